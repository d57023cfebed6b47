"""Cobrança: dunning notices per receivable and the payment artifacts, the one door other
domains (and the console) call. Functions take the caller's session and never commit."""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from sincro.billing import dunning, repository as repo
from sincro.billing.boleto import BoletoError
from sincro.billing.exceptions import ReceivableNotFound
from sincro.billing.messages import ensure_templates
from sincro.billing.models import ReceivableNotice
from sincro.billing.payment import Payment, invoice_pdf, payment_for, pdf_filename
from sincro.billing.pix import PixError
from sincro.config import Settings
from sincro.customers import billing_reads
from sincro.customers.billing_reads import ReceivableView
from sincro.messaging import service as messaging
from sincro.messaging.schemas import Attachment

log = logging.getLogger("sincro.billing")
PURPOSE = "billing"
TEMPLATE_KEYS = {
    "issued": "billing.invoice_issued",
    "due_soon": "billing.due_soon",
    "overdue": "billing.overdue",
}
Sender = Callable[..., bool]


def plan_of(settings: Settings) -> dunning.Plan:
    return dunning.Plan(
        due_soon_days=settings.billing_due_soon_days,
        overdue_days=tuple(settings.billing_overdue_days),
        catch_up_days=settings.billing_catch_up_days,
    )


def _windows(
    today: dt.date, plan: dunning.Plan
) -> tuple[tuple[dt.date, dt.date], list[tuple[dt.date, dt.date]]]:
    """The issue and due-date ranges that can hold an eligible step on any Brazilian local
    date around ``today`` (UTC): one day of slack each side covers every zone."""
    low, high = today - dt.timedelta(days=1), today + dt.timedelta(days=1)
    back = dt.timedelta(days=plan.catch_up_days)
    issued = (low - back, high)
    soon = dt.timedelta(days=plan.due_soon_days)
    due = [(low - back + soon, high + soon)]
    for n in plan.overdue_days:
        after = dt.timedelta(days=n)
        due.append((low - back - after, high - after))
    return issued, due


@dataclass(slots=True)
class DunningRun:
    looked_at: int = 0
    queued: int = 0
    duplicate: int = 0
    superseded: int = 0
    outside_hours: int = 0
    invalid: int = 0
    by_step: dict[str, int] = field(default_factory=lambda: defaultdict(int))


@dataclass(slots=True)
class PlannedNotice:
    """A step one receivable owes now, and (once prepared) what to send with it."""

    receivable: ReceivableView
    step: str
    supersede: tuple[str, ...]
    local_date: dt.date
    payment: Payment | None = None
    pdf: bytes | None = None
    problem: str | None = None  # why the artifacts could not be made


def notice_context(receivable: ReceivableView, pay: Payment, step: str) -> dict[str, Any]:
    """The variables of billing's templates (:mod:`sincro.billing.messages`); the templates
    format money and dates with messaging's pt-BR filters."""
    days = int(step.removeprefix(dunning.OVERDUE)) if step.startswith(dunning.OVERDUE) else 0
    return {
        "invoice_number": receivable.number,
        "amount": receivable.balance,
        "original_amount": receivable.amount,
        "issued_on": receivable.issued_on,
        "due_date": receivable.due_date,
        "digitable_line": pay.digitable_line,
        "pix_code": pay.pix_code or "",
        "days_overdue": days,
        "days_overdue_text": f"{days} dia" if days == 1 else f"{days} dias",
    }


def plan_dunning(
    session: Session,
    settings: Settings,
    *,
    now: dt.datetime,
    after_id: int = 0,
    limit: int | None = None,
) -> tuple[list[PlannedNotice], DunningRun, int | None]:
    """Read one page of candidates (a read: no locks) and decide, per receivable in its
    customer's local date and hours, the step it owes now. Returns the plan, the counts so
    far and the id to continue after (None when the page was the last)."""
    plan = plan_of(settings)
    limit = limit or settings.billing_dunning_batch
    issued, due = _windows(now.astimezone(dt.UTC).date(), plan)
    page = billing_reads.dunning_candidates(
        session, issued=issued, due=due, after_id=after_id, limit=limit
    )
    recorded = repo.recorded_steps(session, (r.id for r in page))
    run = DunningRun(looked_at=len(page))
    planned: list[PlannedNotice] = []
    for receivable in page:
        local = now.astimezone(ZoneInfo(receivable.time_zone))
        decision = dunning.decide(
            receivable.issued_on, receivable.due_date, recorded.get(receivable.id, set()),
            local.date(), plan,
        )  # fmt: skip
        if decision.send is None:
            continue
        if not dunning.within_hours(
            local, settings.billing_send_from_hour, settings.billing_send_until_hour
        ):
            run.outside_hours += 1
            continue
        planned.append(PlannedNotice(receivable, decision.send, decision.supersede, local.date()))
    next_after = page[-1].id if len(page) == limit else None
    return planned, run, next_after


def prepare(planned: list[PlannedNotice], settings: Settings) -> None:
    """Make each notice's boleto, PIX code and PDF (CPU work, outside any transaction). A
    receivable the boleto cannot carry (an amount past R$ 99.999.999,99) is marked, logged by
    id, and recorded ``invalid`` instead of holding the others back."""
    for notice in planned:
        try:
            notice.payment = payment_for(notice.receivable, settings)
            notice.pdf = invoice_pdf(notice.receivable, settings)
        except (BoletoError, PixError) as exc:
            notice.problem = str(exc)
            log.warning(
                "no payment artifacts for a receivable",
                extra={"receivable_id": notice.receivable.id, "problem": str(exc)},
            )


def apply_dunning(
    session: Session,
    planned: list[PlannedNotice],
    run: DunningRun,
    *,
    send: Sender | None = None,
) -> DunningRun:
    """Record each planned step once (:func:`repository.claim_step`; a step another run
    recorded first is skipped) and hand its message to messaging in this same transaction
    (dedupe key ``receivable:<id>:<step>``, the PDF attached)."""
    send = send or messaging.send_transactional
    templates_ready = False
    for notice in planned:
        receivable, day = notice.receivable, notice.local_date
        for step in notice.supersede:
            if repo.claim_step(
                session, receivable.id, receivable.customer_id, step, "superseded", day
            ):
                run.superseded += 1
        status = "invalid" if notice.payment is None or notice.pdf is None else "queued"
        if not repo.claim_step(
            session, receivable.id, receivable.customer_id, notice.step, status, day
        ):
            continue  # another run recorded it first
        if notice.payment is None or notice.pdf is None:
            run.invalid += 1
            continue
        if not templates_ready:
            ensure_templates(session)
            templates_ready = True
        kind = dunning.kind_of(notice.step)
        sent = send(
            session,
            customer_id=receivable.customer_id,
            purpose=PURPOSE,
            kind=f"billing.{kind}",
            dedupe_key=f"receivable:{receivable.id}:{notice.step}",
            template_key=TEMPLATE_KEYS[kind],
            context=notice_context(receivable, notice.payment, notice.step),
            attachments=(Attachment(pdf_filename(receivable), "application/pdf", notice.pdf),),
        )
        if sent:
            run.queued += 1
            run.by_step[notice.step] += 1
        else:  # messaging already had this dedupe key: nothing new was sent
            repo.set_status(session, receivable.id, notice.step, "duplicate")
            run.duplicate += 1
    return run


def run_dunning(
    session: Session,
    settings: Settings,
    *,
    now: dt.datetime,
    after_id: int = 0,
    limit: int | None = None,
    send: Sender | None = None,
) -> tuple[DunningRun, int | None]:
    """One page of dunning in one session (plan, prepare, apply): every candidate whose
    customer's local date has reached a step and whose local time is within the sending hours
    gets that step recorded once and its message handed to messaging. Paid or cancelled
    receivables are never candidates, so their sequence stops. The beat task runs the same
    three steps with the PDFs made outside the write transaction."""
    planned, run, next_after = plan_dunning(
        session, settings, now=now, after_id=after_id, limit=limit
    )
    prepare(planned, settings)
    return apply_dunning(session, planned, run, send=send), next_after


# --- reads for the API and the console ---------------------------------------------------


def receivable(session: Session, receivable_id: int) -> ReceivableView:
    found = billing_reads.receivable(session, receivable_id)
    if found is None:
        raise ReceivableNotFound(f"receivable {receivable_id} not found", field="id")
    return found


def payment(session: Session, receivable_id: int, settings: Settings) -> Payment:
    return payment_for(receivable(session, receivable_id), settings)


def invoice(session: Session, receivable_id: int, settings: Settings) -> tuple[str, bytes]:
    """The PDF copy of a receivable's invoice: (file name, bytes)."""
    found = receivable(session, receivable_id)
    return pdf_filename(found), invoice_pdf(found, settings)


def notices_for(session: Session, receivable_ids: list[int]) -> dict[int, list[ReceivableNotice]]:
    out: dict[int, list[ReceivableNotice]] = defaultdict(list)
    for notice in repo.notices_for(session, receivable_ids):
        out[notice.receivable_id].append(notice)
    return out


def notices_per_day(session: Session, since: dt.datetime) -> list[tuple[dt.date, str, int]]:
    return repo.notices_per_day(session, since)


def receivables_page(
    session: Session, *, status: str | None, offset: int, limit: int
) -> tuple[list[ReceivableView], int]:
    return billing_reads.receivables_page(session, status=status, offset=offset, limit=limit)


def send_copy(session: Session, receivable_id: int, settings: Settings, *, dedupe_key: str) -> bool:
    """E-mail a copy of a receivable's invoice (the "issued" template, the PDF attached) to its
    customer through messaging, once per ``dedupe_key`` (False when already sent for it).
    Consent for billing e-mail and the suppression list are messaging's rules."""
    found = receivable(session, receivable_id)
    pay = payment_for(found, settings)
    ensure_templates(session)
    return messaging.send_transactional(
        session,
        customer_id=found.customer_id,
        purpose=PURPOSE,
        kind="billing.copy",
        dedupe_key=dedupe_key,
        template_key=TEMPLATE_KEYS["issued"],
        context=notice_context(found, pay, "issued"),
        attachments=(
            Attachment(pdf_filename(found), "application/pdf", invoice_pdf(found, settings)),
        ),
    )
