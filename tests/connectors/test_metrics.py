"""The ERP data age reaches Prometheus and the health figures from the api process."""

from __future__ import annotations

import datetime as dt

from fastapi.testclient import TestClient
from prometheus_client import REGISTRY

from sincro import health
from sincro.app import create_app
from sincro.config import Settings
from sincro.connectors import metrics
from sincro.connectors.models import SyncSource
from sincro.db import Database, utcnow


def test_the_oldest_sources_data_age_is_a_figure(db: Database, settings: Settings) -> None:
    with TestClient(create_app(settings)) as client:
        metrics.COLLECTOR._read_at = 0.0
        assert metrics.METRIC not in health.sample_values(REGISTRY)  # nothing synced: no zero
        with db.write() as session:
            now = utcnow()
            for code, age, active in (
                ("sap", 120, True),
                ("protheus", 30, True),
                ("old", 9e5, False),
            ):
                session.add(
                    SyncSource(code=code, kind="rest", name=code, active=active,
                               data_as_of=now - dt.timedelta(seconds=age))
                )  # fmt: skip
        metrics.COLLECTOR._read_at = 0.0
        samples = dict(
            (labels["source"], value)
            for labels, value in health.sample_values(REGISTRY)[metrics.METRIC]
        )
        assert set(samples) == {"sap", "protheus"}  # inactive sources are not lagging
        assert 120 <= samples["sap"] < 130 and 30 <= samples["protheus"] < 40
        figure = next(f for f in health.figures() if f.key == "connectors.data_age")
        total = health.figure_total(figure, health.sample_values(REGISTRY))
        assert total is not None and 120 <= total < 130
        body = client.get("/metrics").text
        assert 'sincro_sync_data_age_seconds{source="sap"}' in body
