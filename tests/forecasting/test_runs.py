"""Forecast runs over the operator's own sales history: chunks done once each, a killed
worker's chunk taken again after its lease, metrics per pattern, promotion and rollback, and
the quantile forecast served by the API."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from sincro.access.models import Role
from sincro.app import create_app
from sincro.config import Settings
from sincro.db import Database, utcnow
from sincro.errors import Conflict
from sincro.forecasting import runs
from sincro.forecasting.models import ForecastChunk
from sincro.forecasting.schemas import RunScope
from sincro.inventory import history
from tests.factories import make_key, make_location, make_product

TODAY = dt.date(2026, 12, 6)
DAYS = 120


@pytest.fixture
def sales(db: Database) -> None:
    rng = np.random.default_rng(5)
    with db.write() as s:
        sp = make_location(s, code="SP1", state="SP")
        rj = make_location(s, code="RJ1", state="RJ", city="Rio de Janeiro")
        phone = make_product(s, sku="CEL-A")
        case = make_product(s, sku="CAP-B")
        rows = []
        first = TODAY - dt.timedelta(days=DAYS)
        for i in range(DAYS):
            day = first + dt.timedelta(days=i)
            weekly = 1.6 if day.weekday() == 5 else 1.0
            for loc in (sp, rj):
                rows.append(
                    {
                        "product_id": phone.id,
                        "location_id": loc.id,
                        "day": day,
                        "units": int(rng.poisson(8 * weekly)),
                        "online_units": 0,
                        "stockout": i in (40, 41),
                    }
                )
                if rng.random() < 0.2:  # intermittent
                    rows.append(
                        {
                            "product_id": case.id,
                            "location_id": loc.id,
                            "day": day,
                            "units": int(rng.integers(1, 4)),
                            "online_units": 0,
                            "stockout": False,
                        }
                    )
        history.load_history(s, rows)


def _scope(**extra: object) -> RunScope:
    values: dict[str, object] = {
        "level": "uf",
        "horizon": 7,
        "history_days": DAYS,
        "skus_per_chunk": 1,
    }
    values.update(extra)
    return RunScope.model_validate(values)


def test_a_run_resumes_after_a_killed_worker_and_is_promoted(db: Database, sales: None) -> None:
    with db.write() as s:
        run = runs.start(s, _scope(), today=TODAY)
        run_id = run.id
    assert run.chunks_total == 2
    assert runs.run_chunk(db, run_id, 0, worker="w1")
    assert not runs.run_chunk(db, run_id, 0, worker="w2")  # done chunks are never redone
    # worker w1 takes chunk 1 and dies: its lease runs out, the sweep hands it on
    with db.write() as s:
        s.execute(
            update(ForecastChunk)
            .where(ForecastChunk.run_id == run_id, ForecastChunk.number == 1)
            .values(status="running", worker="w1", lease_until=utcnow() - dt.timedelta(seconds=1))
        )
    with db.read() as s:
        assert runs.resume(s, run_id) == [1]
    assert runs.run_chunk(db, run_id, 1, worker="w2")
    with db.write() as s:
        out = runs.run_out(s, runs.get_run(s, run_id))
        assert out.status == "done" and out.progress == 1.0 and out.series_done == 4
        assert out.versions["statsforecast"] != "absent"
        assert out.data_end == TODAY - dt.timedelta(days=1)
        metrics = out.metrics or {}
        assert set(metrics) <= {"smooth", "erratic", "intermittent", "lumpy", "short", "overall"}
        overall = metrics["overall"]
        assert overall["series"] == 4 and overall["coverage_interval"] == "p10-p90"
        # 2 windows × 7 days per series, censored days not scored
        assert 0 < overall["coverage_points"] <= 4 * 2 * 7
        assert 0.4 <= overall["coverage"] <= 1.0
        per_pattern = [m for name, m in metrics.items() if name != "overall"]
        assert sum(m["coverage_points"] for m in per_pattern) == overall["coverage_points"]
        runs.promote(s, run_id, "test")
    with db.read() as s:
        forecast = runs.forecast_for(s, "CEL-A", "uf", "SP", 7)
    assert len(forecast.points) == 7
    for p in forecast.points:
        assert 0 <= p.quantiles["10"] <= p.quantiles["50"] <= p.quantiles["90"]
    saturday = next(p for p in forecast.points if p.day.weekday() == 5)
    weekday = next(p for p in forecast.points if p.day.weekday() == 1)
    assert saturday.mean > weekday.mean  # the weekly shape was learnt


def test_promotion_needs_a_done_run_and_rollback_restores_the_previous(
    db: Database, sales: None
) -> None:
    with db.write() as s:
        first = runs.start(s, _scope(skus=["CEL-A"]), today=TODAY).id
        second = runs.start(s, _scope(skus=["CEL-A"]), today=TODAY).id
    runs.run_chunk(db, first, 0, worker="w")
    with db.write() as s, pytest.raises(Conflict):
        runs.promote(s, second, "test")
    runs.run_chunk(db, second, 0, worker="w")
    with db.write() as s:
        runs.promote(s, first, "test")
        runs.promote(s, second, "test")
    with db.write() as s:
        assert runs.forecast_for(s, "CEL-A", "uf", "RJ", 3).run_id == second
        back = runs.rollback(s, "uf")
        assert back.run_id == first
    with db.read() as s:
        assert runs.forecast_for(s, "CEL-A", "uf", "RJ", 3).run_id == first


def test_forecast_api(db: Database, settings: Settings, sales: None) -> None:
    with db.write() as s:
        admin = make_key(s, Role.admin)
        channel = make_key(s, Role.channel)
    with TestClient(create_app(settings)) as client:
        h = {"X-API-Key": admin}
        assert client.get("/v1/forecasts/CEL-A", headers=h).status_code == 404  # nothing live
        bad = client.post("/v1/forecasts/runs", json={"level": "city"}, headers=h)
        assert bad.status_code == 422
        assert (
            client.post("/v1/forecasts/runs", json={}, headers={"X-API-Key": channel}).status_code
            == 403
        )
        unknown = client.post("/v1/forecasts/runs", json={"skus": ["NOPE-1"]}, headers=h)
        assert unknown.status_code == 404 and unknown.json()["error"]["field"] == "skus"
        started = client.post(
            "/v1/forecasts/runs",
            json={"skus": ["CEL-A"], "horizon": 5, "history_days": 100},
            headers=h,
        )
        assert started.status_code == 202, started.text
        run_id = started.json()["id"]
        runs.run_chunk(db, run_id, 0, worker="test")  # what a forecast worker does
        done = client.get(f"/v1/forecasts/runs/{run_id}", headers=h).json()
        assert done["status"] == "done" and done["progress"] == 1.0
        assert done["metrics"]["overall"]["coverage"] is not None
        assert client.post(f"/v1/forecasts/runs/{run_id}/promote", headers=h).status_code == 200
        got = client.get(
            "/v1/forecasts/CEL-A?level=uf&location=SP&horizon=5", headers={"X-API-Key": channel}
        )
        assert got.status_code == 200, got.text
        assert len(got.json()["points"]) == 5
        assert client.get("/v1/forecasts/runs/999999", headers=h).status_code == 404
        assert len(client.get("/v1/forecasts/registry", headers=h).json()) == 1


def test_console_shows_runs_compares_promotes_and_draws_a_series(
    db: Database, settings: Settings, sales: None
) -> None:
    from sincro.access.service import create_user
    from tests.console.support import USER_EMAIL, USER_NAME, USER_PASSWORD, csrf_of, sign_in

    with db.write() as s:
        create_user(s, USER_EMAIL, USER_NAME, USER_PASSWORD)
        run_id = runs.start(s, _scope(skus=["CEL-A"]), today=TODAY).id
    runs.run_chunk(db, run_id, 0, worker="w")
    with TestClient(create_app(settings)) as client:
        sign_in(client)
        page = client.get(f"/console/forecasts?compare={run_id}")
        assert page.status_code == 200
        assert "Previsão de demanda" in page.text and f"Versão v{run_id}" in page.text
        assert "Promover" in page.text
        assert "Cobertura P10–P90" in page.text and "todos os padrões" in page.text
        promoted = client.post(
            f"/console/forecasts/{run_id}/promote",
            data={"csrf": csrf_of(page.text)},
            follow_redirects=False,
        )
        assert promoted.status_code == 303
        forged = client.post(f"/console/forecasts/{run_id}/promote", data={"csrf": "x"})
        assert forged.status_code == 400
        series = client.get("/console/forecasts/series?sku=CEL-A&level=uf&key=SP")
        assert series.status_code == 200, series.text
        assert 'data-chart="forecast-chart-data"' in series.text and "P10" in series.text
        assert (
            client.get("/console/forecasts/series?sku=CEL-A&level=bogus&key=SP").status_code == 404
        )
        assert client.get("/console/forecasts/series?sku=NOPE&level=uf&key=SP").status_code == 404
