"""The Protheus-style sync carries what offers and messaging need, on both databases: SB1 list
price and replenishment attributes, the custom ZPL plans and ZPR promotions tables, SA1 birth
date, registration date and plan, SE1 number, payment date and status."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import select, update

from sincro.catalog import service as catalog
from sincro.catalog.models import Product, ProductPrice
from sincro.config import Settings
from sincro.connectors.config import ConnectorsConfig
from sincro.connectors.models import SyncReject
from sincro.connectors.orchestrator import run_source
from sincro.customers.models import Customer, Receivable
from sincro.db import Database
from sincro.demo.offers import PLANS, list_price, replenishment
from sincro.simulators.rest import ProtheusSimulator
from sincro.text_pt import SAO_PAULO
from tests.connectors.rest.conftest import CUSTOMERS, PRODUCTS, alias_locations

ENTITIES = ("products", "plans", "promotions", "customers", "receivables")


def _config(url: str) -> ConnectorsConfig:
    return ConnectorsConfig.model_validate(
        {
            "sources": [
                {
                    "code": "protheus",
                    "kind": "protheus_rest",
                    "name": "Protheus simulado",
                    "base_url": url,
                    "mapping": "protheus.yaml",
                    "page_size": 25,
                    "timeout_seconds": 15,
                    "retry": {"max_attempts": 3, "base_delay": 0.01, "max_delay": 0.05},
                    "entities": [{"name": name} for name in ENTITIES],
                }
            ]
        }
    )


def test_offers_and_customer_fields_arrive(
    settings: Settings, demo: Database, protheus: ProtheusSimulator
) -> None:
    config = _config(protheus.url)
    alias_locations(demo, config)
    result = run_source(settings, config, "protheus", db=demo)
    by_entity = {e.entity: e for e in result.entities}
    assert {e.status for e in by_entity.values()} == {"succeeded"}, by_entity
    assert by_entity["plans"].applied == len(PLANS)
    assert by_entity["promotions"].applied == len(protheus.promotions)
    today = dt.datetime.now(dt.UTC).date()
    with demo.read() as session:
        plans, total = catalog.list_plans(session)
        assert total == len(PLANS) and {p.code for p in plans} == {p.code for p in PLANS}
        fibra = catalog.get_plan(session, "FIBRA-300")
        assert fibra.kind == "fibra" and fibra.data_gb is None and fibra.source == "protheus"
        assert catalog.get_plan(session, "CTRL-25").data_gb == 25
        on_plan = catalog.get_promotion(session, "PROMO-CTRL25")
        assert on_plan.plan == "CTRL-25" and on_plan.discount_percent == Decimal("30")
        first = protheus.products[0]
        promo = catalog.get_promotion(session, f"PROMO-{first.sku}")
        assert promo.sku == first.sku and promo.plan is None
        # list prices from B1_PRV1, in force from the sync's day
        prices = catalog.current_prices(session, [p.sku for p in protheus.products], today)
        assert len(prices) == PRODUCTS
        assert prices[first.sku].list_price == list_price(first)
        assert prices[first.sku].source == "protheus"
        product = session.scalars(select(Product).where(Product.sku == first.sku)).one()
        lead, pack, supplier = replenishment(first)
        assert (product.lead_time_days, product.pack_size, product.supplier_code) == (
            lead,
            pack,
            supplier,
        )
        customers = session.scalars(select(Customer)).all()
        assert len(customers) == CUSTOMERS
        assert all(c.customer_since is not None for c in customers)
        plan_codes = {p.code for p in PLANS}
        assert {c.plan for c in customers} <= plan_codes and len({c.plan for c in customers}) > 3
        people = [c for c in customers if c.document_kind == "cpf"]
        assert people and all(c.birth_date is not None for c in people)
        assert all(c.birth_date is None for c in customers if c.document_kind == "cnpj")
        receivables = session.scalars(select(Receivable)).all()
        assert receivables and all(r.number for r in receivables)
        paid = [r for r in receivables if r.status == "paid"]
        unpaid = [r for r in receivables if r.status == "open"]
        assert paid and unpaid
        assert all(r.paid_on is not None and r.balance == 0 for r in paid)
        assert all(r.paid_on is None and r.balance > 0 for r in unpaid)


def test_price_change_starts_a_new_period_and_bad_records_are_rejected(
    settings: Settings, demo: Database, protheus: ProtheusSimulator
) -> None:
    config = _config(protheus.url)
    alias_locations(demo, config)
    run_source(settings, config, "protheus", db=demo, entities=["products"])
    first = protheus.products[0]
    # ERP prices take effect from the day in Brasília time (between 00:00 and 03:00 UTC that
    # is still the previous UTC day's date)
    yesterday = dt.datetime.now(SAO_PAULO).date() - dt.timedelta(days=1)
    with demo.write() as session:  # the price in force started before today
        session.execute(update(ProductPrice).values(valid_from=yesterday - dt.timedelta(days=9)))
    table = protheus.tables["SB1"]
    changed = {**table.current(0), "B1_PRV1": 999.9}
    table.change(0, changed, dt.datetime.now(dt.UTC))
    run_source(settings, config, "protheus", db=demo, entities=["products"])
    protheus.faults.bad_record_rate = 0.5
    run_source(settings, config, "protheus", db=demo, entities=["plans"])
    with demo.read() as session:
        history, _ = catalog.list_prices(session, sku=first.sku, on=None, offset=0, limit=10)
        rejects = set(
            session.execute(select(SyncReject.entity, SyncReject.field, SyncReject.rule)).all()
        )
    assert [(p.list_price, p.valid_to) for p in history] == [
        (Decimal("999.90"), None),
        (list_price(first), yesterday),
    ]
    assert ("plans", "kind", "lookup") in rejects
