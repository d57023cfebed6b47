"""LGPD export and erasure visit every domain that declares personal data, the customers
domain last, in the caller's transaction, with one audit entry each."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.orm import Session

from sincro import audit, privacy
from sincro.db import Database
from sincro.domain import Domain

CALLS: list[str] = []


class Holder:
    def __init__(self, name: str) -> None:
        self.name = name

    def export(self, session: Session, customer_id: int) -> dict[str, Any]:
        CALLS.append(f"export:{self.name}")
        return {"customer_id": customer_id}

    def erase(self, session: Session, customer_id: int) -> dict[str, int]:
        CALLS.append(f"erase:{self.name}")
        return {"rows": 1}


CUSTOMERS = Holder("customers")
MESSAGING = Holder("messaging")


@pytest.fixture
def fake_domains(monkeypatch: pytest.MonkeyPatch) -> None:
    CALLS.clear()
    domains = (
        Domain(name="customers", label="c", personal_data=f"{__name__}:CUSTOMERS"),
        Domain(name="inventory", label="i"),
        Domain(name="messaging", label="m", personal_data=f"{__name__}:MESSAGING"),
    )
    monkeypatch.setattr(privacy, "installed", lambda: domains)


def test_export_and_erase_visit_owner_last_and_audit(db: Database, fake_domains: None) -> None:
    actor = audit.Actor.cli("test")
    with db.write() as session:
        sections = privacy.export_customer(session, 7, actor)
        counts = privacy.erase_customer(session, 7, actor, reason="pedido do titular")
    assert sections == {"messaging": {"customer_id": 7}, "customers": {"customer_id": 7}}
    assert counts == {"messaging": {"rows": 1}, "customers": {"rows": 1}}
    assert CALLS == ["export:messaging", "export:customers", "erase:messaging", "erase:customers"]
    with db.read() as session:
        entries, _total = audit.read(session, audit.AuditFilter(action="customer."))
    assert sorted(e.action for e in entries) == ["customer.erased", "customer.exported"]
    assert all(e.entity_id == "7" for e in entries)


def test_installed_holders_resolve() -> None:
    for _name, holder in privacy.holders():
        assert callable(holder.export) and callable(holder.erase)
