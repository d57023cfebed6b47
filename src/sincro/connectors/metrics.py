"""The age of each ERP source's data as a Prometheus gauge, and the health page's figure.

``sincro_sync_data_age_seconds{source}`` is how long ago each active source's last good data
was taken (``sync_sources.data_as_of``): the lag between the ERP and Sincro that operators ask
about first. It is read from the database when collected (at most every
:data:`REFRESH_SECONDS`), by the api processes only (the domain's runtime binds their
database), so the figure reaches "Saúde" with each api heartbeat. Without a database, or
before any source has synchronised, the metric has no samples: never a made-up zero."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

from prometheus_client import REGISTRY
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import select

from sincro import health
from sincro.db import Database, utcnow

log = logging.getLogger("sincro.connectors.metrics")
METRIC = "sincro_sync_data_age_seconds"
REFRESH_SECONDS = 15.0


class DataAgeCollector(Collector):
    def __init__(self) -> None:
        self.db: Database | None = None
        self._lock = threading.Lock()
        self._read_at = 0.0
        self._as_of: list[tuple[str, Any]] = []

    def _sources(self) -> list[tuple[str, Any]]:
        from sincro.connectors.models import SyncSource

        with self._lock:
            if self.db is not None and time.monotonic() - self._read_at > REFRESH_SECONDS:
                try:
                    with self.db.read() as session:
                        rows = session.execute(
                            select(SyncSource.code, SyncSource.data_as_of).where(
                                SyncSource.active.is_(True), SyncSource.data_as_of.is_not(None)
                            )
                        ).all()
                    self._as_of = [(code, as_of) for code, as_of in rows]
                except Exception as exc:  # the database away: keep the last reading
                    log.debug("sync data age not read: %s", exc)
                self._read_at = time.monotonic()
            return list(self._as_of)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        sources = self._sources()
        if not sources:
            return
        family = GaugeMetricFamily(
            METRIC, "Seconds since each ERP source's last good data", labels=["source"]
        )
        now = utcnow()
        for code, as_of in sources:
            family.add_metric([code], max(0.0, (now - as_of).total_seconds()))
        yield family


COLLECTOR = DataAgeCollector()
REGISTRY.register(COLLECTOR)

health.register_figure(
    "connectors.data_age",
    METRIC,
    "Idade dos dados do ERP (origem mais atrasada)",
    combine="max",
    unit="s",
)


def install(state: Any) -> None:
    """The api process's database is the one whose sources it reports."""
    COLLECTOR.db = state.db
    COLLECTOR._read_at = 0.0
