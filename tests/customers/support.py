"""Shared helpers of the customers tests: documents with valid check digits, an API client
with an admin key, console users of each role."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal

from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import update

from sincro.access.models import ConsoleUser
from sincro.access.service import create_user
from sincro.app import create_app
from sincro.config import Settings
from sincro.customers import service
from sincro.db import Database
from sincro.text_pt import cnpj_check_digits, cpf_check_digits
from tests.console.support import csrf_of
from tests.factories import make_key

PASSWORD = "senha-forte-123"


def cpf(n: int) -> str:
    base = f"{n:09d}"
    return base + cpf_check_digits(base)


def cnpj(n: int) -> str:
    base = f"{n:08d}0001"
    return base + cnpj_check_digits(base)


def admin_key(db: Database) -> dict[str, str]:
    with db.write() as session:
        return {"X-API-Key": make_key(session)}


@contextmanager
def api_client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as client:
        yield client


def make_user(db: Database, role: str) -> str:
    """A console user with ``role`` (billing, marketing and agent are console roles the
    access domain's enum does not list yet: the column is set directly); returns the e-mail."""
    email = f"{role}@sincro.example"
    with db.write() as session:
        user = create_user(session, email, f"Usuário {role}", PASSWORD)
        session.execute(update(ConsoleUser).where(ConsoleUser.id == user.id).values(role=role))
    return email


def sign_in_as(client: TestClient, email: str) -> None:
    page = client.get("/console/sign-in")
    response = client.post(
        "/console/sign-in",
        data={"email": email, "password": PASSWORD, "csrf": csrf_of(page.text), "next": ""},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text


def add_receivable(
    db: Database, code: str, customer_code: str, due: dt.date, balance: str, source: str = "erp"
) -> None:
    with db.write() as session:
        service.upsert_receivables(
            session,
            source,
            [
                (
                    code,
                    {
                        "code": code,
                        "number": code,
                        "customer_code": customer_code,
                        "due_date": due,
                        "amount": Decimal("99.90"),
                        "balance": Decimal(balance),
                    },
                )
            ],
        )
        service.link_orphan_receivables(session, source)


def upload(client: TestClient, name: str, raw: bytes) -> Response:
    """The console's import form, sent by a signed-in admin (not followed)."""
    form = client.get("/console/customers/import")
    return client.post(
        "/console/customers/import",
        data={"csrf": csrf_of(form.text)},
        files={"file": (name, raw, "text/csv")},
        follow_redirects=False,
    )
