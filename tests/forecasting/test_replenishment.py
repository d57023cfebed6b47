"""Replenishment advice from a live location-level forecast: lead-time totals from sample
paths (not sums of daily quantiles), pack-rounded orders, stock-out probability that follows
the stock, alerts and change-feed events raised once and resolved, safety stock written back."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from sincro.access.models import Role
from sincro.alerts import Alert
from sincro.app import create_app
from sincro.config import Settings
from sincro.db import Database
from sincro.events import Event
from sincro.forecasting import replenishment, runs
from sincro.forecasting.replenishment import Policy
from sincro.forecasting.schemas import RunScope
from sincro.inventory import history, service as inventory
from tests.factories import make_key, make_location, make_product, receive

DAYS = 100


@pytest.fixture
def store(db: Database) -> str:
    rng = np.random.default_rng(9)
    today = dt.date.today()
    with db.write() as s:
        shop = make_location(s, code="LJ1", state="SP")
        make_location(s, code="CD1", kind="dc", state="SP", latitude=-23.4, longitude=-46.7)
        phone = make_product(s, sku="CEL-R")
        history.load_history(
            s,
            [
                {
                    "product_id": phone.id,
                    "location_id": shop.id,
                    "day": today - dt.timedelta(days=d),
                    "units": int(rng.poisson(6)),
                    "online_units": 0,
                    "stockout": False,
                }
                for d in range(1, DAYS + 1)
            ],
        )
        receive(s, "CEL-R", "CD1", 500)
        run_id = runs.start(
            s, RunScope(level="location", skus=["CEL-R"], horizon=28, history_days=DAYS)
        ).id
    runs.run_chunk(db, run_id, 0, worker="t")
    with db.write() as s:
        runs.promote(s, run_id, "test")
    return "LJ1"


def _advice(db: Database, policy: Policy | None = None) -> replenishment.Advice:
    with db.read() as s:
        (advice,) = replenishment.advise(s, "LJ1", policy or Policy())
    return advice


def test_advice_follows_the_stock(db: Database, store: str) -> None:
    empty = _advice(db)
    assert empty.position == 0 and empty.stockout_probability > 0.9
    lead, review = empty.lead_time_days, empty.review_days
    assert 0 < empty.reorder_point < empty.order_up_to
    # periodic review: an order not placed now arrives after the next review plus the lead
    # time, so the reorder point covers both at a service level above the mean
    assert empty.reorder_point >= empty.mean_daily * (lead + review)
    assert empty.order_up_to >= empty.reorder_point + empty.mean_daily * review - 1
    assert empty.suggested_qty >= empty.order_up_to
    assert empty.dc == "CD1" and empty.dc_can_serve is True
    with db.write() as s:
        receive(s, "CEL-R", "LJ1", 400)
    full = _advice(db)
    assert full.stockout_probability < 0.05 and full.suggested_qty == 0
    assert full.days_of_cover is not None and full.days_of_cover > 30
    assert lead + review <= 28


def test_orders_round_up_to_the_pack(
    db: Database, store: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    plain = _advice(db)
    from sincro.catalog import service as catalog

    real = catalog.get_product

    def packed(session, sku):  # type: ignore[no-untyped-def]
        product = real(session, sku)
        return type(
            "P",
            (),
            {"name": product.name, "lead_time_days": 10, "pack_size": 12, "supplier_code": "F01"},
        )()

    monkeypatch.setattr(catalog, "get_product", packed)
    advice = _advice(db)
    assert advice.lead_time_days == 10 and advice.pack_size == 12 and advice.supplier == "F01"
    assert advice.suggested_qty % 12 == 0 and advice.suggested_qty >= plain.suggested_qty


def test_stockout_alerts_raised_once_announced_and_resolved(db: Database, store: str) -> None:
    policy = Policy()
    with db.write() as s:
        assert replenishment.raise_stockout_alerts(s, policy, 0.5) == (1, 0)
    with db.write() as s:
        assert replenishment.raise_stockout_alerts(s, policy, 0.5) == (1, 0)  # kept, not doubled
    with db.read() as s:
        open_alerts = s.scalars(select(Alert).where(Alert.resolved_at.is_(None))).all()
        events = s.scalars(select(Event).where(Event.topic == replenishment.STOCKOUT_RISK)).all()
    assert len(open_alerts) == 1 and "CEL-R" in open_alerts[0].message
    assert len(events) == 1 and events[0].payload["location"] == "LJ1"
    with db.write() as s:
        receive(s, "CEL-R", "LJ1", 400)
    with db.write() as s:
        assert replenishment.raise_stockout_alerts(s, policy, 0.5) == (0, 1)


def test_api_and_safety_stock_write_back(db: Database, settings: Settings, store: str) -> None:
    with db.write() as s:
        admin = make_key(s, Role.admin)
    with TestClient(create_app(settings)) as client:
        h = {"X-API-Key": admin}
        rows = client.get("/v1/replenishment?location=LJ1&service_level=0.9", headers=h)
        assert rows.status_code == 200, rows.text
        (row,) = rows.json()
        assert row["sku"] == "CEL-R" and row["suggested_qty"] > 0
        assert client.get("/v1/replenishment?location=NOPE", headers=h).status_code == 404
        assert (
            client.get("/v1/replenishment?location=LJ1&service_level=2", headers=h).status_code
            == 422
        )
        wrote = client.post(
            "/v1/replenishment/safety-stock",
            json={"location": "LJ1", "service_level": 0.9},
            headers=h,
        )
        assert wrote.status_code == 200 and wrote.json() == {"changed": 1}
    with db.read() as s:
        assert inventory.get_level(s, "LJ1", "CEL-R").safety_stock == row["safety_stock"] > 0


def test_console_replenishment_table_filters_and_csv(
    db: Database, settings: Settings, store: str
) -> None:
    from sincro.access.service import create_user
    from tests.console.support import USER_EMAIL, USER_NAME, USER_PASSWORD, sign_in

    with db.write() as s:
        create_user(s, USER_EMAIL, USER_NAME, USER_PASSWORD)
    with TestClient(create_app(settings)) as client:
        sign_in(client)
        page = client.get("/console/forecasts/replenishment?location=LJ1&only=pedido")
        assert (
            page.status_code == 200 and 'id="replenishment"' in page.text and "CEL-R" in page.text
        )
        csv = client.get("/console/forecasts/replenishment?location=LJ1&exportar=1")
        assert csv.status_code == 200 and csv.text.startswith("\ufeffSKU;Produto;")
        plain = client.get("/console/forecasts/replenishment?location=LJ1&exportar=1&formato=dados")
        assert plain.text.startswith("SKU,Produto,")
        missing = client.get("/console/forecasts/replenishment?location=ZZ9")
        assert missing.status_code == 200 and "Não há previsão por loja" in missing.text
        hostile = client.get("/console/forecasts/replenishment?location=%3Cscript%3E")
        assert hostile.status_code == 404
