"""The demo operator's customers (small N, both databases): sign-ups over two years, valid
documents, consent, merged duplicates, invoices and payments with defaulters in every aging
bucket, and the offers catalog; the generators alone are deterministic."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from typer.testing import CliRunner

from sincro.catalog import service as catalog
from sincro.config import reset_settings
from sincro.customers import service as customers
from sincro.customers.models import Consent, ConsentEvent, Customer, Receivable
from sincro.customers.schemas import CustomerRegistration, Segment
from sincro.db import Database, reset_databases
from sincro.demo.cli import demo_app
from sincro.demo.customers import (
    EMAIL_DOMAINS,
    HISTORY_DAYS,
    generate_customers,
    generate_invoices,
    signup_days,
)
from sincro.demo.loader import DemoAlreadyLoaded, load_demo
from sincro.demo.offers import PLANS
from sincro.text_pt import UFS, is_valid_cnpj, is_valid_cpf

N = 2500
BUCKETS = ((1, 30), (31, 60), (61, 90), (91, 100_000))


def test_generators_are_deterministic_and_shaped() -> None:
    today = dt.date(2026, 12, 6)
    first = generate_customers(800, 7, today)
    assert first.rows == generate_customers(800, 7, today).rows
    assert first.rows != generate_customers(800, 8, today).rows
    invoices = list(generate_invoices(first, 7, today, 2))
    assert invoices == list(generate_invoices(generate_customers(800, 7, today), 7, today, 2))
    days = signup_days(20_000, today)
    assert len(days) == 20_000 and days == sorted(days)
    start = today.toordinal() - HISTORY_DAYS
    assert start <= days[0] and days[-1] < today.toordinal()
    first_year = sum(1 for d in days if d < start + 365)
    # growth: the daily rate doubles over two years, so the second year has 1.4x the first
    assert 1.3 < (len(days) - first_year) / first_year < 1.5
    by_month = Counter(dt.date.fromordinal(d).month for d in days)
    assert by_month[12] > 1.5 * by_month[2]  # Christmas over February
    sundays = sum(1 for d in days if dt.date.fromordinal(d).weekday() == 6)
    assert sundays < len(days) / 7 * 0.7


def _defaulter_ages(session: object, today: dt.date) -> dict[str, list[int]]:
    """Days overdue of each defaulter's oldest open receivable, per UF."""
    rows = session.execute(  # type: ignore[attr-defined]
        select(Customer.state, func.min(Receivable.due_date))
        .join(Receivable, Receivable.customer_id == Customer.id)
        .where(Receivable.status == "open", Receivable.balance > 0, Receivable.due_date < today)
        .group_by(Customer.id, Customer.state)
    ).all()
    ages: dict[str, list[int]] = {}
    for state, due in rows:
        ages.setdefault(state, []).append((today - due).days)
    return ages


def test_small_load(migrated_url: str) -> None:
    summary = load_demo(migrated_url, stores=6, dcs=1, products=25, customers=N, offers=True)
    today = dt.datetime.now(dt.UTC).date()
    db = Database(migrated_url)
    try:
        with db.read() as session:
            people = session.scalars(select(Customer).order_by(Customer.id)).all()
            primaries = [c for c in people if c.merged_into_id is None]
            merged = [c for c in people if c.merged_into_id is not None]
            assert len(primaries) == N and summary.customers == len(people)
            # merges: a second source's record of the same document points at the older one
            assert merged and len(merged) < N / 20
            by_id = {c.id: c for c in people}
            for dup in merged:
                primary = by_id[dup.merged_into_id or 0]
                assert (dup.source, primary.source) == ("loja-online", "demo")
                assert dup.document == primary.document and primary.id < dup.id
            # documents: valid, unique per person; a few companies
            documents = [c.document for c in primaries]
            assert len(set(documents)) == N
            assert all(
                is_valid_cpf(c.document or "") for c in primaries if c.document_kind == "cpf"
            )
            companies = [c for c in primaries if c.document_kind == "cnpj"]
            assert companies and all(is_valid_cnpj(c.document or "") for c in companies)
            assert all(c.birth_date is None for c in companies)
            adults = [c for c in primaries if c.document_kind == "cpf"]
            assert all(
                17.99 <= (today - (c.birth_date or today)).days / 365.25 <= 80.01 for c in adults
            )
            # contact details: reserved example domains only; phones with an area code
            emails = [c.email for c in primaries if c.email]
            assert 0.85 < len(emails) / N < 0.99
            assert {e.rsplit("@", 1)[1] for e in emails} <= set(EMAIL_DOMAINS)
            assert all(len(c.phone) == 11 for c in primaries if c.phone)
            # two years of sign-ups, regions and plans
            since = [c.customer_since or today for c in primaries]
            assert min(since) >= today - dt.timedelta(days=HISTORY_DAYS + 1)
            assert max(since) < today
            assert len({c.state for c in primaries}) >= 20 and {c.state for c in primaries} <= set(
                UFS
            )
            states = Counter(c.state for c in primaries)
            assert states.most_common(1)[0][0] == "SP"
            assert {c.plan for c in primaries} <= {p.code for p in PLANS}
            # consent: billing for most with an e-mail, marketing for fewer, with evidence
            granted = Counter(
                session.execute(
                    select(Consent.purpose).where(
                        Consent.granted.is_(True), Consent.channel == "email"
                    )
                ).scalars()
            )
            assert granted["billing"] > granted["marketing"] > 0.4 * len(emails)
            assert session.scalar(select(func.count()).select_from(ConsentEvent)) == session.scalar(
                select(func.count()).select_from(Consent)
            )
            assert set(session.scalars(select(ConsentEvent.source).distinct())) == {"demo"}
            # invoices: prepaid customers get none; paid ones have a date and no balance
            receivables = session.scalars(select(Receivable)).all()
            assert len(receivables) == summary.receivables > N
            prepaid = {c.id for c in primaries if c.plan and c.plan.startswith("PRE-")}
            assert not {r.customer_id for r in receivables} & prepaid
            paid = [r for r in receivables if r.status == "paid"]
            assert 0.6 < len(paid) / len(receivables) < 0.98
            assert all(r.paid_on is not None and r.balance == 0 for r in paid)
            assert all(
                r.paid_on is None and r.balance == r.amount
                for r in receivables
                if r.status == "open"
            )
            assert min(r.issued_on or today for r in receivables) < today - dt.timedelta(days=600)
            late = [r for r in paid if (r.paid_on or r.due_date) > r.due_date]
            assert late and len(late) < len(paid) / 3
            # defaulters in every aging bucket, in several UFs
            ages = _defaulter_ages(session, today)
            every = [a for per_uf in ages.values() for a in per_uf]
            for low, high in BUCKETS:
                assert any(low <= a <= high for a in every), (low, high)
            assert len(ages) >= 5
            segment = Segment(channel="email", purpose="billing", defaulter=True)
            defaulters = customers.audience_count(session, segment, today=today, grace_days=5)
            assert 0 < defaulters < N / 5
            # the offers catalog
            _, total = catalog.list_plans(session)
            assert total == len(PLANS)
            prices = catalog.current_prices(
                session,
                [
                    p.sku
                    for p in catalog.list_products(
                        session, q=None, category=None, offset=0, limit=100
                    )[0]
                ],
                today,
            )
            assert len(prices) == 25
            assert catalog.list_promotions(session, active_on=today)[1] >= 3
        # ids continue after the loaded ones (PostgreSQL: the sequence was moved)
        with db.write() as session:
            registered = customers.register_customer(
                session,
                CustomerRegistration(name="Nova Cliente", document="529.982.247-25"),
                source="api",
            )
        assert registered.created and registered.customer_id == summary.customers + 1
        with pytest.raises(DemoAlreadyLoaded):
            with db.write() as session:
                session.execute(text("DELETE FROM stock_levels"))
                session.execute(text("DELETE FROM movements"))
                session.execute(text("DELETE FROM products"))
                session.execute(text("DELETE FROM locations"))
            load_demo(migrated_url, stores=6, dcs=1, products=25, customers=N)
    finally:
        db.dispose()


def test_demo_command_loads_customers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``sincro demo --no-serve --customers N``: migrated, loaded with the progress bar's
    stages, offers included; a second run reuses what is there."""
    url = f"sqlite:///{tmp_path / 'demo.sqlite'}"
    monkeypatch.setenv("SINCRO_DATABASE_URL", url)
    monkeypatch.setenv("SINCRO_VAR_DIR", str(tmp_path))
    monkeypatch.delenv("SINCRO_CONNECTORS_FILE", raising=False)
    reset_settings()
    reset_databases()
    args = ["--no-serve", "--stores", "4", "--dcs", "1", "--products", "10", "--customers", "300"]
    args += ["--history-days", "0"]
    try:
        first = CliRunner().invoke(demo_app, args)
        assert first.exit_code == 0, first.output
        assert "Clientes" in first.output and "Faturas e pagamentos" in first.output
        again = CliRunner().invoke(demo_app, args)
        assert again.exit_code == 0 and "already loaded" in again.output
        db = Database(url)
        try:
            with db.read() as session:
                count = select(func.count()).select_from(Customer)
                assert session.scalar(count.where(Customer.merged_into_id.is_(None))) == 300
                assert catalog.list_plans(session)[1] == len(PLANS)
        finally:
            db.dispose()
        refused = CliRunner().invoke(demo_app, ["--no-serve", "--customers", "-1"])
        assert refused.exit_code == 2
    finally:
        reset_settings()
        reset_databases()
