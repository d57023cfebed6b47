"""Helpers of the automation tests: a small world (stores, products, customers with or
without consent), interactions published on the outbox as the assistant does, rules."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select

from sincro import audit
from sincro.assistant.interactions import INTERACTION, Interaction
from sincro.automation import interests, messages, service
from sincro.automation.schemas import RuleIn
from sincro.config import Settings
from sincro.customers import service as customers
from sincro.customers.models import Customer
from sincro.db import Database
from sincro.events import publish
from sincro.messaging import service as messaging
from sincro.messaging.models import LedgerEntry
from tests.factories import make_location, make_product, receive

ACTOR = audit.Actor.cli("test")
IN_STOCK = "CEL-A05-PRETO"  # at the Campinas store
MISSING = "IPH-15-PRO-256"  # nowhere


def world(db: Database) -> None:
    with db.write() as session:
        make_location(session, code="LJ-CPS-1", city="Campinas", state="SP")
        make_location(session, code="LJ-RJ-1", city="Rio de Janeiro", state="RJ")
        make_product(session, sku=IN_STOCK, name="Galaxy A05 Preto")
        make_product(session, sku=MISSING, name="iPhone 15 Pro 256 GB")
    with db.write() as session:
        receive(session, IN_STOCK, "LJ-CPS-1", 5)


def add_customer(
    db: Database, code: str, *, purposes: tuple[str, ...] = ("marketing",), city: str = "Campinas"
) -> int:
    with db.write() as session:
        customers.upsert_customers(
            session,
            "erp",
            [(code, {"code": code, "name": f"Maria {code}", "email": f"{code}@exemplo.com.br",
                     "state": "SP", "city": city})],
        )  # fmt: skip
    with db.read() as session:
        customer_id = session.scalars(
            select(Customer.id).where(Customer.email == f"{code}@exemplo.com.br")
        ).one()
    with db.write() as session:
        for purpose in purposes:
            customers.record_consent(
                session, customer_id, channel="email", purpose=purpose,
                granted=True, source="test", evidence="fixture",
            )  # fmt: skip
    return customer_id


def say(db: Database, customer_id: int, intent: str, at: dt.datetime, **fields: Any) -> None:
    """Publish one understood turn, as the assistant's dialogue does."""
    body = {"conversation_id": 1, "customer_id": customer_id, "intent": intent,
            "confidence": 0.9, "at": at} | fields  # fmt: skip
    with db.write() as session:
        publish(session, INTERACTION, Interaction.model_validate(body))


def read(db: Database, settings: Settings) -> interests.ReadRun:
    with db.write() as session:
        return interests.process_interactions(session, settings)


def offer_template(db: Database, key: str = "automation.plan_offer") -> int:
    with db.write() as session:
        messages.ensure_templates(session)
        template = messaging.repo.template_by_key(session, key)
        assert template is not None
        return template.id


def add_rule(db: Database, kind: str, template_key: str, **fields: Any) -> int:
    template_id = offer_template(db, template_key)
    body = {"name": f"Regra {kind}", "kind": kind, "min_strength": 0.5, "within_days": 7,
            "template_id": template_id} | fields  # fmt: skip
    with db.write() as session:
        return service.create_rule(session, RuleIn.model_validate(body), ACTOR).id


def ledger(db: Database) -> list[LedgerEntry]:
    with db.read() as session:
        return list(session.scalars(select(LedgerEntry).order_by(LedgerEntry.id)))
