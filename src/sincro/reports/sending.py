"""Sending the scheduled reports that are due, once per schedule and period.

Any number of beat-triggered workers may run :func:`send_due` at the same moment. For each
active schedule whose period has reached its sending time, a worker first *claims* the
(schedule, period) run row in its own committed transaction (``INSERT … ON CONFLICT DO
NOTHING``); only the worker whose row went in builds and sends the e-mail. A temporary SMTP
failure marks the run ``retry`` (taken again after a while, at most ``MAX_ATTEMPTS``); a run
left ``sending`` by a worker that died is taken over once it is ``STALE_AFTER`` old.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sincro.config import Settings
from sincro.db import Database, utcnow
from sincro.mail import Delivery, Mailer, SmtpSettings
from sincro.reports import repository as repo, service
from sincro.reports.mailing import Report, report_message
from sincro.reports.models import ReportSchedule

log = logging.getLogger("sincro.reports")

MAX_ATTEMPTS = 3
RETRY_AFTER = dt.timedelta(minutes=5)
STALE_AFTER = dt.timedelta(minutes=15)


@dataclass(frozen=True, slots=True)
class Outcome:
    schedule_id: int
    period: str
    status: str  # sent|retry|failed|skipped (no mail configured)


def build_report(
    db: Database, settings: Settings, schedule: ReportSchedule, day: dt.date
) -> Report:
    """The report a schedule sends on ``day`` (its parameters are relative to that day)."""
    params = schedule.params or {}
    with db.read() as session:
        if schedule.report == "new_customers":
            start = day - dt.timedelta(days=int(params.get("days", 30)) - 1)
            return service.new_customers(session, start, day, params.get("grain", "day"))
        if schedule.report == "defaulters":
            return service.defaulters(session, settings, day)
        start = service._months_back(day, int(params.get("months", 12)) - 1)
        return service.billing(session, start, day, day)


def due_schedules(
    db: Database, settings: Settings, now: dt.datetime
) -> list[tuple[ReportSchedule, str]]:
    """The active schedules whose period has reached its sending time at ``now``, with that
    period (sent or not: the claim tells): :func:`send_due`'s first read, and beat's gate."""
    local_now = now.astimezone(ZoneInfo(settings.reports_time_zone))
    with db.read() as session:
        return [
            (row, period)
            for row in repo.schedules(session, active_only=True)
            if (period := service.due_period(row, local_now)) is not None
        ]


def send_due(
    db: Database,
    settings: Settings,
    *,
    now: dt.datetime | None = None,
    mailer_factory: Callable[[SmtpSettings], Mailer] = Mailer,
) -> list[Outcome]:
    """Send every report due at ``now``; what each claimed run became."""
    now = now or utcnow()
    smtp = SmtpSettings.from_settings(settings)
    due = due_schedules(db, settings, now)
    if not due:
        return []
    outcomes: list[Outcome] = []
    mailer: Mailer | None = None
    try:
        for schedule, period in due:
            run_id = _claim(db, schedule.id, period, now)
            if run_id is None:
                continue
            if smtp is None:
                _finish(db, run_id, "failed", "SINCRO_SMTP_URL is not set")
                outcomes.append(Outcome(schedule.id, period, "skipped"))
                continue
            mailer = mailer or mailer_factory(smtp)
            outcomes.append(_send(db, settings, mailer, smtp, schedule, period, run_id, now))
    finally:
        if mailer is not None:
            mailer.close()
    return outcomes


def _claim(db: Database, schedule_id: int, period: str, now: dt.datetime) -> int | None:
    with db.write() as session:
        run_id = repo.insert_claim(session, schedule_id, period, now)
        if run_id is None:
            run_id = repo.reclaim(
                session,
                schedule_id,
                period,
                now,
                stale_before=now - STALE_AFTER,
                retry_before=now - RETRY_AFTER,
                max_attempts=MAX_ATTEMPTS,
            )
    return run_id


def _finish(db: Database, run_id: int, status: str, detail: str) -> None:
    with db.write() as session:
        repo.finish(session, run_id, status, detail, utcnow())


def _send(
    db: Database,
    settings: Settings,
    mailer: Mailer,
    smtp: SmtpSettings,
    schedule: ReportSchedule,
    period: str,
    run_id: int,
    now: dt.datetime,
) -> Outcome:
    day = now.astimezone(ZoneInfo(settings.reports_time_zone)).date()
    try:
        report = build_report(db, settings, schedule, day)
        message = report_message(
            schedule.report,
            report,
            sender=settings.reports_mail_from or smtp.sender,
            recipients=schedule.recipients,
            period=period,
            generated_at=now,
        )
    except Exception:
        log.exception("report schedule %s: building the report failed", schedule.id)
        _finish(db, run_id, "retry", "building the report failed")
        return Outcome(schedule.id, period, "retry")
    result = mailer.send(message)
    if result.ok:
        status, detail = "sent", result.message_id or ""
    elif result.delivery is Delivery.TEMPORARY:
        status, detail = "retry", f"{result.code or ''} {result.detail}"
    else:
        status, detail = "failed", f"{result.code or ''} {result.detail}"
    _finish(db, run_id, status, detail.strip())
    log.info("report schedule %s period %s: %s", schedule.id, period, status)
    return Outcome(schedule.id, period, status)
