"""Customers as messaging needs them: registration merged by document, consent per purpose
with evidence, suppression, and segments (UF, plan, defaulters by days overdue)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from pydantic import ValidationError

from sincro.customers import service
from sincro.customers.schemas import CustomerRegistration, Segment
from sincro.db import Database
from sincro.text_pt import cpf_check_digits

TODAY = dt.date(2026, 12, 6)


def cpf(n: int) -> str:
    base = f"{n:09d}"
    return base + cpf_check_digits(base)


def person(n: int, **extra: object) -> CustomerRegistration:
    data: dict[str, object] = {
        "name": f"Cliente {n}",
        "document": cpf(n),
        "email": f"Cliente{n}@Exemplo.com.br ",
        "state": "SP",
        "city": "Campinas",
    }
    data.update(extra)
    return CustomerRegistration.model_validate(data)


def test_registration_validates_document_email_and_uf() -> None:
    with pytest.raises(ValidationError) as bad_cpf:
        CustomerRegistration(name="Ana", document="123.456.789-00")
    assert bad_cpf.value.errors()[0]["loc"] == ("document",)
    with pytest.raises(ValidationError) as bad_uf:
        CustomerRegistration(name="Ana", document=cpf(7), state="XX")
    assert bad_uf.value.errors()[0]["loc"] == ("state",)
    ok = CustomerRegistration(name="Ana", document=cpf(7)[:3] + "." + cpf(7)[3:], email=" A@B.CO ")
    assert ok.document == cpf(7) and ok.email == "a@b.co"


def test_register_twice_merges_by_document(db: Database) -> None:
    with db.write() as session:
        first = service.register_customer(session, person(1), source="api")
        again = service.register_customer(
            session, person(1, phone="11 91234-5678", email=None), source="signup-mail"
        )
    assert first.created and not again.created
    assert again.customer_id == first.customer_id


def test_erp_records_of_one_document_merge_into_the_oldest(db: Database) -> None:
    doc = cpf(42)
    with db.write() as session:
        service.upsert_customers(
            session,
            "erp-a",
            [("A1", {"code": "A1", "name": "Ana", "document": doc, "document_kind": "cpf"})],
        )
        service.upsert_customers(
            session,
            "erp-b",
            [("B9", {"code": "B9", "name": "Ana S.", "document": doc, "document_kind": "cpf"})],
        )
        assert service.register_customer(session, person(42), source="api").created is False


def _consent_all(db: Database, ids: list[int], purpose: str) -> None:
    with db.write() as session:
        service.record_consents(
            session,
            ids,
            channel="email",
            purpose=purpose,
            granted=True,
            source="test",
            evidence="t",
        )


def test_segments_need_consent_and_skip_suppressed_and_merged(db: Database) -> None:
    with db.write() as session:
        ids = [
            service.register_customer(session, person(n), source="api").customer_id
            for n in range(1, 6)
        ]
    _consent_all(db, ids[:4], "marketing")
    with db.write() as session:
        service.suppress(session, "CLIENTE2@exemplo.com.br", reason="hard_bounce")
        service.suppress(
            session, "cliente3@exemplo.com.br", reason="unsubscribed", purpose="marketing"
        )
        service.record_consent(
            session,
            ids[3],
            channel="email",
            purpose="marketing",
            granted=False,
            source="unsubscribe",
            evidence="link",
        )
    with db.read() as session:
        members = service.audience_page(session, Segment(), today=TODAY, grace_days=5)
        assert [m.customer_id for m in members] == [ids[0]]
        assert members[0].email == "cliente1@exemplo.com.br"
        assert members[0].time_zone == "America/Sao_Paulo"
        history = service.consent_history(session, ids[3])
        assert [e.granted for e in history] == [False, True]
    # billing is another purpose: the marketing unsubscribe of customer 3 does not stop it
    _consent_all(db, ids, "billing")
    with db.read() as session:
        billing = service.audience_page(
            session, Segment(purpose="billing"), today=TODAY, grace_days=5
        )
    assert [m.customer_id for m in billing] == [ids[0], ids[2], ids[3], ids[4]]


@pytest.mark.parametrize(
    ("segment", "expected"),
    [
        (Segment(purpose="billing", defaulter=True), {"late40", "late10"}),
        (Segment(purpose="billing", defaulter=False), {"ontime", "late3", "paid"}),
        (Segment(purpose="billing", min_days_overdue=30), {"late40"}),
        (Segment(purpose="billing", min_days_overdue=1, max_days_overdue=20), {"late10", "late3"}),
        (Segment(purpose="billing", states=["rj"]), {"late10"}),
        (Segment(purpose="billing", plans=["Controle 20GB"]), {"late40"}),
    ],
)
def test_segment_filters(db: Database, segment: Segment, expected: set[str]) -> None:
    days = {"ontime": -5, "late3": 3, "late10": 10, "late40": 40, "paid": 60}
    codes = list(days)
    with db.write() as session:
        service.upsert_customers(
            session,
            "erp",
            [
                (
                    code,
                    {
                        "code": code,
                        "name": code,
                        "document": cpf(100 + i),
                        "document_kind": "cpf",
                        "email": f"{code}@x.com.br",
                        "state": "RJ" if code == "late10" else "SP",
                        "plan": "Controle 20GB" if code == "late40" else "Pre",
                    },
                )
                for i, code in enumerate(codes)
            ],
        )
        service.upsert_receivables(
            session,
            "erp",
            [
                (
                    f"T{code}",
                    {
                        "code": f"T{code}",
                        "customer_code": code,
                        "due_date": TODAY - dt.timedelta(days=d),
                        "amount": Decimal("99.90"),
                        "balance": Decimal("0") if code == "paid" else Decimal("99.90"),
                    },
                )
                for code, d in days.items()
            ],
        )
        service.link_orphan_receivables(session, "erp")
    with db.read() as session:
        every = service.audience_page(
            session, Segment(purpose="billing", customer_ids=[]), today=TODAY, grace_days=5
        )
    _consent_all(db, [m.customer_id for m in every] or list(range(1, 6)), "billing")
    with db.read() as session:
        ids = {
            m.customer_id
            for m in service.audience_page(
                session, Segment(purpose="billing"), today=TODAY, grace_days=5
            )
        }
        assert len(ids) == 5
        got = service.audience_page(session, segment, today=TODAY, grace_days=5)
        assert {m.name for m in got} == expected
        assert service.audience_count(session, segment, today=TODAY, grace_days=5) == len(expected)


def test_segment_rejects_unknown_uf_and_inverted_range() -> None:
    with pytest.raises(ValidationError):
        Segment(states=["ZZ"])
    with pytest.raises(ValidationError):
        Segment(min_days_overdue=10, max_days_overdue=5)
