"""Prometheus samples of this test process, as a scrape would see them."""

from __future__ import annotations

from prometheus_client import REGISTRY

from sincro.metrics import flush


def sample(name: str, labels: dict[str, str]) -> float:
    """The sample's value (0 when it was never taken), after the samples the api counts in
    batches (:mod:`sincro.metrics`) are written, as a scrape writes them first."""
    flush()
    return REGISTRY.get_sample_value(name, labels) or 0.0
