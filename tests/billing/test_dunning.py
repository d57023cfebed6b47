"""Dunning: steps per receivable in the customer's local date and hours, never twice, and
stopped by payment. Rules as properties; the runs against both databases."""

from __future__ import annotations

import datetime as dt
import threading
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings, strategies as st
from sqlalchemy import func, select

from sincro.billing import dunning, service
from sincro.billing.models import ReceivableNotice
from sincro.config import Settings
from sincro.customers import service as customers
from sincro.db import Database

DUE = dt.date(2026, 3, 10)
PLAN = dunning.Plan(due_soon_days=3, overdue_days=(1, 7, 15, 30), catch_up_days=2)


# --- the rules ------------------------------------------------------------------------------


def test_steps_and_a_plain_schedule() -> None:
    steps = dict(dunning.steps(dt.date(2026, 3, 1), DUE, PLAN))
    assert steps == {
        "issued": dt.date(2026, 3, 1),
        "due_soon": dt.date(2026, 3, 7),
        "overdue_1": dt.date(2026, 3, 11),
        "overdue_7": dt.date(2026, 3, 17),
        "overdue_15": dt.date(2026, 3, 25),
        "overdue_30": dt.date(2026, 4, 9),
    }
    assert dunning.decide(dt.date(2026, 3, 1), DUE, set(), dt.date(2026, 2, 28), PLAN).send is None
    assert dunning.decide(dt.date(2026, 3, 1), DUE, set(), dt.date(2026, 3, 1), PLAN).send == (
        "issued"
    )
    # two steps due at once: only the latest goes, the earlier one is superseded
    both = dunning.decide(dt.date(2026, 3, 6), DUE, set(), dt.date(2026, 3, 7), PLAN)
    assert both == dunning.Decision("due_soon", ("issued",))
    # a run missed for days: the step past the catch-up window is simply not owed any more
    late = dunning.decide(dt.date(2026, 3, 1), DUE, {"issued"}, dt.date(2026, 3, 12), PLAN)
    assert late == dunning.Decision("overdue_1", ())
    # a step older than the catch-up window is never sent (a first sync of old invoices)
    assert dunning.decide(None, DUE, set(), dt.date(2026, 3, 22), PLAN).send is None
    assert dunning.decide(None, DUE, {"overdue_7"}, dt.date(2026, 3, 11), PLAN).send is None


plans = st.builds(
    dunning.Plan,
    due_soon_days=st.integers(1, 10),
    overdue_days=st.lists(st.integers(1, 60), min_size=1, max_size=5, unique=True).map(
        lambda days: tuple(sorted(days))
    ),
    catch_up_days=st.integers(0, 5),
)


@given(
    plan=plans,
    issued_offset=st.none() | st.integers(-40, 5),
    start=st.integers(-50, 80),
    days=st.integers(1, 90),
    skips=st.sets(st.integers(0, 90), max_size=30),
)
@settings(max_examples=150, deadline=None)
def test_runs_day_after_day_send_each_step_at_most_once_and_in_order(
    plan: dunning.Plan, issued_offset: int | None, start: int, days: int, skips: set[int]
) -> None:
    """Runs on some local days (``skips`` are days no run happened): each step is recorded at
    most once, sent steps go in schedule order, and with a run on a step's own date that
    step is sent or superseded by one falling due the same day."""
    issued = None if issued_offset is None else DUE + dt.timedelta(days=issued_offset)
    recorded: dict[str, str] = {}
    order = [name for name, _ in dunning.steps(issued, DUE, plan)]
    sent: list[str] = []
    ran: set[dt.date] = set()
    for n in range(days):
        if n in skips:
            continue
        today = DUE + dt.timedelta(days=start + n)
        ran.add(today)
        decision = dunning.decide(issued, DUE, set(recorded), today, plan)
        for step in decision.supersede:
            assert step not in recorded
            recorded[step] = "superseded"
        if decision.send:
            assert decision.send not in recorded
            recorded[decision.send] = "sent"
            sent.append(decision.send)
    assert sent == sorted(sent, key=order.index)
    dates = dict(dunning.steps(issued, DUE, plan))
    for step, day in dates.items():
        if day in ran and (issued is None or day >= min(dates.values())):
            later = [s for s in order[order.index(step) + 1 :] if s in recorded]
            assert step in recorded or later, (step, day)


# --- runs against the database ---------------------------------------------------------------


class Recorder:
    """Stands in for messaging's ``send_transactional``: records each call (thread-safe)."""

    def __init__(self, accept: bool = True) -> None:
        self.calls: list[dict[str, Any]] = []
        self.accept = accept
        self.lock = threading.Lock()

    def __call__(self, session: Any, **kwargs: Any) -> bool:
        with self.lock:
            self.calls.append(kwargs)
        return self.accept


@pytest.fixture
def billing_settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={"billing_pix_key": "financeiro@sincro.example", "billing_send_from_hour": 8,
                "billing_send_until_hour": 20}
    )  # fmt: skip


def add_customer(db: Database, code: str, state: str, city: str) -> int:
    with db.write() as session:
        customers.upsert_customers(
            session,
            "erp",
            [(code, {"code": code, "name": f"Cliente {code}", "email": f"{code}@exemplo.com.br",
                     "state": state, "city": city})],
        )  # fmt: skip
    with db.read() as session:
        from sincro.customers.lookup import find_customer

        found = find_customer(session, email=f"{code}@exemplo.com.br")
        assert found is not None
        return found.customer_id


def add_receivable(db: Database, code: str, customer: str, due: dt.date = DUE, **extra: Any) -> int:
    record = {"code": code, "number": f"NF-{code}", "customer_code": customer,
              "due_date": due, "issued": due - dt.timedelta(days=9), "amount": "129.90",
              "balance": "129.90"}  # fmt: skip
    record.update(extra)
    with db.write() as session:
        applied, invalid = customers.upsert_receivables(session, "erp", [(code, record)])
        assert applied == 1 and not invalid
    with db.read() as session:
        rows, _ = service.receivables_page(session, status=None, offset=0, limit=500)
    return next(r.id for r in rows if r.number == f"NF-{code}")


def run(db: Database, s: Settings, now: dt.datetime, send: Recorder) -> service.DunningRun:
    with db.write() as session:
        result, _ = service.run_dunning(session, s, now=now, send=send)
    return result


def at(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), dt.UTC)


def test_local_date_and_hours_of_each_customer(db: Database, billing_settings: Settings) -> None:
    """Overdue by one day in Acre (UTC−5) and on Fernando de Noronha (UTC−2): each customer's
    own date and sending hours decide, not the server's."""
    add_customer(db, "AC1", "AC", "Rio Branco")
    add_customer(db, "FN1", "PE", "Fernando de Noronha")
    acre = add_receivable(db, "R-AC", "AC1", issued=None)
    noronha = add_receivable(db, "R-FN", "FN1", issued=None)
    send = Recorder()
    day_after = DUE + dt.timedelta(days=1)

    # 02:30 UTC on the day after: Noronha 00:30 of that day, Acre 21:30 of the due date.
    # Outside the hours for both; with the whole day open, only Noronha has reached it.
    night = billing_settings.model_copy(
        update={"billing_send_from_hour": 0, "billing_send_until_hour": 24}
    )
    first = run(db, night, at(day_after, 2, 30), send)
    assert [c["dedupe_key"] for c in send.calls] == [f"receivable:{noronha}:overdue_1"]
    assert first.queued == 1

    # 10:30 UTC: Noronha 08:30, Acre 05:30 (before 8 h): nobody new
    run(db, billing_settings, at(day_after, 10, 30), send)
    assert len(send.calls) == 1
    # 13:05 UTC: Acre 08:05, its turn
    third = run(db, billing_settings, at(day_after, 13, 5), send)
    assert third.queued == 1 and send.calls[-1]["dedupe_key"] == f"receivable:{acre}:overdue_1"
    # and again later that day: nothing twice
    run(db, billing_settings, at(day_after, 18, 0), send)
    assert len(send.calls) == 2
    with db.read() as session:
        rows = session.execute(
            select(ReceivableNotice.receivable_id, ReceivableNotice.local_date)
        ).all()
    assert sorted(rows) == sorted([(acre, day_after), (noronha, day_after)])


def test_a_notice_carries_what_the_customer_needs_to_pay(
    db: Database, billing_settings: Settings
) -> None:
    add_customer(db, "SP1", "SP", "Campinas")
    rid = add_receivable(db, "R-SP", "SP1", issued=None)
    send = Recorder()
    run(db, billing_settings, at(DUE - dt.timedelta(days=3), 12), send)
    [call] = send.calls
    assert call["purpose"] == "billing" and call["kind"] == "billing.due_soon"
    assert call["template_key"] == "billing.due_soon"
    assert call["dedupe_key"] == f"receivable:{rid}:due_soon"
    context = call["context"]
    assert context["amount"] == Decimal("129.90") and context["due_date"] == DUE
    assert len("".join(ch for ch in context["digitable_line"] if ch.isdigit())) == 47
    assert context["pix_code"].startswith("000201") and "br.gov.bcb.pix" in context["pix_code"]
    [pdf] = call["attachments"]
    assert pdf.filename == "fatura-NF-R-SP.pdf" and pdf.content_type == "application/pdf"
    assert pdf.content.startswith(b"%PDF-")


def test_paid_or_cancelled_receivables_stop_the_sequence(
    db: Database, billing_settings: Settings
) -> None:
    add_customer(db, "RJ1", "RJ", "Niterói")
    paid = add_receivable(db, "R-PAID", "RJ1", issued=None)
    add_receivable(db, "R-CANC", "RJ1", issued=None)
    send = Recorder()
    run(db, billing_settings, at(DUE - dt.timedelta(days=3), 12), send)
    assert len(send.calls) == 2
    add_receivable(db, "R-PAID", "RJ1", issued=None, balance="0", paid=DUE, status="paid")
    add_receivable(db, "R-CANC", "RJ1", issued=None, status="cancelled")
    for offset in (1, 7, 15, 30):
        run(db, billing_settings, at(DUE + dt.timedelta(days=offset), 12), send)
    assert len(send.calls) == 2
    with db.read() as session:
        steps = service.notices_for(session, [paid])[paid]
    assert [n.step for n in steps] == ["due_soon"]


def test_a_key_messaging_already_had_is_recorded_and_not_retried(
    db: Database, billing_settings: Settings
) -> None:
    add_customer(db, "MG1", "MG", "Belo Horizonte")
    rid = add_receivable(db, "R-MG", "MG1", issued=None)
    refusing = Recorder(accept=False)
    result = run(db, billing_settings, at(DUE - dt.timedelta(days=3), 12), refusing)
    assert result.duplicate == 1
    run(db, billing_settings, at(DUE - dt.timedelta(days=3), 15), refusing)
    assert len(refusing.calls) == 1
    with db.read() as session:
        [notice] = service.notices_for(session, [rid])[rid]
    assert notice.status == "duplicate"


def test_two_concurrent_runs_send_each_step_once(
    db: Database, billing_settings: Settings, database_url: str, tmp_path: Path
) -> None:
    """Two runs at once (each its own connection and transaction) over the same receivables:
    the unique (receivable, step) claim lets exactly one send each."""
    add_customer(db, "BA1", "BA", "Salvador")
    ids = [add_receivable(db, f"R-BA{n}", "BA1", issued=None) for n in range(12)]
    send = Recorder()
    now = at(DUE + dt.timedelta(days=1), 12)
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def worker() -> None:
        other = Database(database_url)
        try:
            barrier.wait()
            with other.write() as session:
                service.run_dunning(session, billing_settings, now=now, send=send)
        except BaseException as exc:  # surfaced below
            errors.append(exc)
        finally:
            other.dispose()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    keys = [c["dedupe_key"] for c in send.calls]
    assert sorted(keys) == sorted(f"receivable:{i}:overdue_1" for i in ids)
    with db.read() as session:
        assert session.scalar(select(func.count()).select_from(ReceivableNotice)) == len(ids)


def test_the_task_pages_through_every_candidate(db: Database, billing_settings: Settings) -> None:
    add_customer(db, "PR1", "PR", "Curitiba")
    ids = [add_receivable(db, f"R-PR{n}", "PR1", issued=None) for n in range(7)]
    send = Recorder()
    small = billing_settings.model_copy(update={"billing_dunning_batch": 3})
    after: int | None = 0
    pages = 0
    while after is not None:
        with db.write() as session:
            _, after = service.run_dunning(
                session, small, now=at(DUE - dt.timedelta(days=3), 12), send=send, after_id=after
            )
        pages += 1
    assert pages == 3
    assert sorted(c["dedupe_key"] for c in send.calls) == sorted(
        f"receivable:{i}:due_soon" for i in ids
    )


def test_the_beat_task_pages_through_every_candidate(
    db: Database, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Celery task as the beat runs it: global settings, its own sessions, every page."""
    from sincro.billing import tasks
    from sincro.config import reset_settings

    monkeypatch.setenv("SINCRO_DATABASE_URL", database_url)
    monkeypatch.setenv("SINCRO_BILLING_DUNNING_BATCH", "2")
    monkeypatch.setenv("SINCRO_BILLING_SEND_FROM_HOUR", "0")
    monkeypatch.setenv("SINCRO_BILLING_SEND_UNTIL_HOUR", "24")
    reset_settings()
    add_customer(db, "SC1", "SC", "Florianópolis")
    today = dt.datetime.now(dt.UTC).astimezone(dt.timezone(dt.timedelta(hours=-3))).date()
    ids = [add_receivable(db, f"R-SC{n}", "SC1", due=today, issued=today) for n in range(5)]
    sent = Recorder()
    monkeypatch.setattr("sincro.messaging.service.send_transactional", sent)
    totals = tasks.dunning()
    assert totals["queued"] == 5 and totals["looked_at"] == 5
    assert sorted(c["dedupe_key"] for c in sent.calls) == sorted(
        f"receivable:{i}:issued" for i in ids
    )
    assert tasks.dunning()["queued"] == 0


def test_a_merged_duplicates_receivable_is_noticed_to_the_primary_record(
    db: Database, billing_settings: Settings
) -> None:
    from sincro.text_pt import cpf_check_digits

    document = "123456789" + cpf_check_digits("123456789")
    with db.write() as session:
        customers.upsert_customers(
            session, "erp-a", [("A1", {"code": "A1", "name": "Ana", "document": document,
                                       "document_kind": "cpf", "email": "ana@exemplo.com.br",
                                       "state": "AM", "city": "Manaus"})],
        )  # fmt: skip
        customers.upsert_customers(
            session, "erp", [("B1", {"code": "B1", "name": "Ana S.", "document": document,
                                     "document_kind": "cpf", "email": "velho@exemplo.com.br",
                                     "state": "SP", "city": "Santos"})],
        )  # fmt: skip
    from sincro.customers.lookup import find_customer

    with db.read() as session:
        primary = find_customer(session, email="ana@exemplo.com.br")
        duplicate = find_customer(session, email="velho@exemplo.com.br")
    assert primary is not None and duplicate == primary  # the old address leads to the primary
    rid = add_receivable(db, "R-B1", "B1", issued=None)  # booked on the duplicate's code
    send = Recorder()
    run(db, billing_settings, at(DUE - dt.timedelta(days=3), 15), send)  # 11:00 in Manaus
    [call] = send.calls
    assert call["customer_id"] == primary.customer_id
    assert call["dedupe_key"] == f"receivable:{rid}:due_soon"


def test_a_receivable_no_boleto_can_carry_does_not_hold_the_others_back(
    db: Database, billing_settings: Settings
) -> None:
    add_customer(db, "ES1", "ES", "Vitória")
    huge = add_receivable(
        db, "R-HUGE", "ES1", issued=None, amount="123456789.00", balance="123456789.00"
    )
    fine = add_receivable(db, "R-FINE", "ES1", issued=None)
    send = Recorder()
    result = run(db, billing_settings, at(DUE - dt.timedelta(days=3), 12), send)
    assert result.invalid == 1 and result.queued == 1
    assert [c["dedupe_key"] for c in send.calls] == [f"receivable:{fine}:due_soon"]
    with db.read() as session:
        [notice] = service.notices_for(session, [huge])[huge]
    assert (notice.step, notice.status) == ("due_soon", "invalid")
