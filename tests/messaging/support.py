"""Helpers of the messaging tests: customers with consent, templates, a sender against the
real SMTP sink, and a dispatcher that keeps batches instead of queueing them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from sincro import audit
from sincro.config import Settings, reset_settings
from sincro.customers import service as customers
from sincro.db import Database
from sincro.mail import Mailer, SmtpSettings
from sincro.messaging import service
from sincro.messaging.schemas import TemplateIn
from sincro.messaging.sender import Sender
from sincro.sharedstate import DatabaseSharedState

ACTOR = audit.Actor.cli("test")


@pytest.fixture
def global_var_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """messaging reads a few settings globally: keep that var/ inside the test's directory
    (``pytestmark = pytest.mark.usefixtures("global_var_dir")`` with the fixture imported)."""
    monkeypatch.setenv("SINCRO_VAR_DIR", str(tmp_path / "var"))
    reset_settings()
    yield
    reset_settings()


def add_customers(
    db: Database,
    n: int,
    *,
    purposes: tuple[str, ...] = ("marketing", "billing"),
    prefix: str = "cli",
    state: str = "SP",
    city: str = "Campinas",
    start: int = 1,
) -> list[int]:
    """``n`` customers (``<prefix><i>@exemplo.com.br``) consenting to e-mail for
    ``purposes``; their ids in order."""
    records = [
        (
            f"C{i}",
            {
                "code": f"C{i}",
                "name": f"Cliente Número {i}",
                "email": f"{prefix}{i}@exemplo.com.br",
                "state": state,
                "city": city,
                "plan": "Controle 20 GB",
            },
        )
        for i in range(start, start + n)
    ]
    with db.write() as session:
        customers.upsert_customers(session, f"test-{prefix}", records)
    with db.read() as session:
        from sqlalchemy import select

        from sincro.customers.models import Customer

        ids = list(
            session.scalars(
                select(Customer.id).where(Customer.source == f"test-{prefix}").order_by(Customer.id)
            )
        )
    with db.write() as session:
        for purpose in purposes:
            customers.record_consents(
                session,
                ids,
                channel="email",
                purpose=purpose,
                granted=True,
                source="test",
                evidence="fixture",
            )
    return ids


def make_template(
    db: Database, key: str = "oferta", purpose: str = "marketing", **overrides: Any
) -> int:
    body = {
        "key": key,
        "name": "Oferta de fim de ano",
        "purpose": purpose,
        "subject": "{{ customer.first_name }}, oferta para {{ customer.city }}",
        "html": '<p>Olá {{ customer.name }}</p><p><a href="{{ unsubscribe_url }}">sair</a></p>',
        "text": "Olá {{ customer.name }}. Plano {{ customer.plan }}.",
    } | overrides
    with db.write() as session:
        return service.create_template(session, TemplateIn.model_validate(body), ACTOR).id


@dataclass
class Dispatched:
    batches: list[tuple[int, list[int]]] = field(default_factory=list)
    orchestrations: list[int] = field(default_factory=list)

    def take_batches(self) -> list[tuple[int, list[int]]]:
        out, self.batches = self.batches, []
        return out


@pytest.fixture
def dispatched(monkeypatch: pytest.MonkeyPatch) -> Dispatched:
    """Batches and orchestrations kept in a list instead of going to the broker."""
    kept = Dispatched()
    monkeypatch.setitem(
        service.dispatcher, "batch", lambda c, ids: kept.batches.append((c, list(ids)))
    )
    monkeypatch.setitem(service.dispatcher, "orchestrate", kept.orchestrations.append)
    return kept


def messaging_settings(settings: Settings, sink_port: int, **overrides: Any) -> Settings:
    values = {
        "smtp_url": f"smtp://127.0.0.1:{sink_port}",
        "messaging_from": "Loja Exemplo <ofertas@loja.example>",
        "messaging_rate_per_second": 1000.0,
        "messaging_quiet_start": 0,
        "messaging_quiet_end": 0,
        "messaging_public_url": "https://sincro.example",
        "messaging_retry_base_seconds": 60.0,
    } | overrides
    return settings.model_copy(update=values)


@contextmanager
def sender_for(db: Database, settings: Settings, **kwargs: Any) -> Iterator[Sender]:
    smtp = SmtpSettings.from_settings(settings)
    assert smtp is not None
    sender = Sender(db, settings, DatabaseSharedState(db), Mailer(smtp), **kwargs)
    try:
        yield sender
    finally:
        sender.close()


def drain(sender: Sender, kept: Dispatched) -> None:
    """Run every kept batch (and those they cause) until none are left."""
    while batches := kept.take_batches():
        for campaign_id, ids in batches:
            sender.run_batch(campaign_id, ids)
