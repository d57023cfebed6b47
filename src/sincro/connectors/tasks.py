"""Celery tasks of the ERP connectors (queues ``ingest`` and ``sync``)."""

from __future__ import annotations
