"""Health, readiness, metrics, OpenAPI and settings."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from sincro.app import create_app
from sincro.config import DEFAULT_SECRET, Settings


def test_health_ready_metrics(settings: Settings) -> None:
    with TestClient(create_app(settings)) as client:
        assert client.get("/health").json() == {"status": "ok"}
        ready = client.get("/ready")
        assert ready.status_code == 200, ready.text
        assert ready.json()["checks"] == {"database": True, "broker": True}
        client.get("/v1/availability/X")  # 401, but observed
        text = client.get("/metrics").text
    assert 'sincro_http_request_duration_seconds_bucket{le="0.001",method="GET",' in text
    assert 'route="/v1/availability/{sku}"' in text
    assert "sincro_queue_depth" in text
    assert "sincro_feed_position" in text


@pytest.mark.one_database  # the broker check does not touch the database (2 s of retry each)
def test_ready_reports_an_unreachable_broker(settings: Settings) -> None:
    broken = settings.model_copy(update={"broker_url": "amqp://guest:guest@127.0.0.1:1//"})
    with TestClient(create_app(broken)) as client:
        ready = client.get("/ready")
    assert ready.status_code == 503
    assert ready.json()["checks"]["broker"] is False


def test_openapi_documents_the_api(settings: Settings) -> None:
    with TestClient(create_app(settings)) as client:
        spec = client.get("/openapi.json").json()
    paths = spec["paths"]
    for path in (
        "/v1/availability/{sku}",
        "/v1/availability/query",
        "/v1/movements",
        "/v1/stock/{location}/{sku}",
        "/v1/reservations",
        "/v1/reservations/{reservation_id}/commit",
        "/v1/events/stream",
        "/v1/locations",
        "/v1/products",
    ):
        assert path in paths, path
    params = {p["name"] for p in paths["/v1/availability/{sku}"]["get"]["parameters"]}
    assert {"location", "near", "radius_km", "all", "offset", "limit"} <= params


def test_production_refuses_the_default_secret() -> None:
    with pytest.raises(ValueError, match="SINCRO_SECRET_KEY"):
        Settings(mode="production", secret_key=DEFAULT_SECRET)
    assert Settings(mode="production", secret_key="x" * 40).mode == "production"
