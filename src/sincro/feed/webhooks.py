"""Webhook delivery (filled in by the webhooks work)."""

from __future__ import annotations


def dispatch_all() -> int:
    return 0
