"""Scheduled report e-mails to a real SMTP server: sent once per period even when several
runners race, with a pt-BR summary, an inline chart and the CSV attached."""

from __future__ import annotations

import datetime as dt
import threading
from zoneinfo import ZoneInfo

from sincro.audit import Actor
from sincro.config import Settings
from sincro.db import Database
from sincro.reports import service
from sincro.reports.models import ReportRun
from sincro.reports.schemas import ScheduleIn
from sincro.reports.sending import send_due
from tests.reports.data import seed
from tests.smtp_sink import running_sink

SP = ZoneInfo("America/Sao_Paulo")


def at(year: int, month: int, day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=SP).astimezone(dt.UTC)


def schedule(db: Database, settings: Settings, **changes: object) -> int:
    data = ScheduleIn.model_validate(
        {
            "report": "defaulters",
            "recipients": ["financeiro@exemplo.com.br", "diretoria@exemplo.com.br"],
            "cadence": "daily",
            "hour": 8,
            **changes,
        }
    )
    with db.write() as session:
        return service.create_schedule(session, settings, data, Actor.system("test")).id


def race(db: Database, settings: Settings, now: dt.datetime, runners: int = 2) -> list:
    barrier = threading.Barrier(runners)
    results: list = []

    def run() -> None:
        barrier.wait()
        results.extend(send_due(db, settings, now=now))

    threads = [threading.Thread(target=run) for _ in range(runners)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return results


def test_a_due_report_is_sent_once_when_two_runners_race(db: Database, settings: Settings) -> None:
    with db.write() as session:
        seed(session)
    schedule_id = schedule(db, settings)
    with running_sink() as sink:
        configured = settings.model_copy(update={"smtp_url": f"smtp://127.0.0.1:{sink.port}"})
        assert race(db, configured, at(2026, 3, 31, 7, 59)) == []  # before 08:00 local
        outcomes = race(db, configured, at(2026, 3, 31, 8, 0))
        assert [(o.schedule_id, o.period, o.status) for o in outcomes] == [
            (schedule_id, "2026-03-31", "sent")
        ]
        assert race(db, configured, at(2026, 3, 31, 18, 0)) == []  # same day: already sent
        assert len(sink.messages) == 1
        message = sink.messages[0]
        assert message["Subject"] == "Sincro — Inadimplência — 2026-03-31"
        assert "financeiro@exemplo.com.br" in message["To"]
        html_part, text_part = message.get_body(("html",)), message.get_body(("plain",))
        assert html_part is not None and text_part is not None
        html = html_part.get_content()
        assert "R$ 1.130,00" in html and "<svg" in html and "<script" not in html
        text = text_part.get_content()
        assert "Valor em atraso: R$ 1.130,00" in text
        [attachment] = list(message.iter_attachments())
        assert attachment.get_filename() == "inadimplencia-2026-03-31.csv"
        body = attachment.get_content()
        assert body.startswith("\ufeffUF;Região;")
        assert "\r\nSP;Sudeste;2;2;2;150;0;0;0;0;1;400;3;550\r\n" in body
        # the next day is a new period
        assert [o.status for o in race(db, configured, at(2026, 4, 1, 9, 0))] == ["sent"]
        assert len(sink.messages) == 2
    with db.read() as session:
        runs = session.query(ReportRun).order_by(ReportRun.id).all()
        assert [(r.period, r.status, r.attempts) for r in runs] == [
            ("2026-03-31", "sent", 1),
            ("2026-04-01", "sent", 1),
        ]


def test_weekly_and_monthly_periods(db: Database, settings: Settings) -> None:
    weekly = schedule(db, settings, report="billing", cadence="weekly", weekday=2, hour=6)
    monthly = schedule(
        db, settings, report="new_customers", cadence="monthly", day_of_month=5, hour=0,
        params={"grain": "week", "days": 60},
    )  # fmt: skip
    with running_sink() as sink:
        configured = settings.model_copy(update={"smtp_url": f"smtp://127.0.0.1:{sink.port}"})
        assert send_due(db, configured, now=at(2026, 3, 3, 23, 0)) == []  # Tuesday, day 3
        sent = send_due(db, configured, now=at(2026, 3, 5, 6, 30))  # Thursday, day 5
        assert {(o.schedule_id, o.period) for o in sent} == {
            (weekly, "2026-W10"),
            (monthly, "2026-03"),
        }
        assert send_due(db, configured, now=at(2026, 3, 8, 6, 30)) == []  # same week and month
        assert len(sink.messages) == 2
        subjects = sorted(str(m["Subject"]) for m in sink.messages)
        assert subjects == ["Sincro — Faturamento — 2026-W10", "Sincro — Novos clientes — 2026-03"]


def test_a_temporary_refusal_is_retried_later_in_the_period(
    db: Database, settings: Settings
) -> None:
    schedule(db, settings, recipients=["temp@exemplo.com.br"])
    with running_sink() as sink:
        configured = settings.model_copy(update={"smtp_url": f"smtp://127.0.0.1:{sink.port}"})
        assert [o.status for o in send_due(db, configured, now=at(2026, 3, 31, 8, 0))] == ["retry"]
        assert send_due(db, configured, now=at(2026, 3, 31, 8, 2)) == []  # not yet
        again = send_due(db, configured, now=at(2026, 3, 31, 8, 10))
        assert [o.status for o in again] == ["retry"]
        assert sink.messages == []
    with db.read() as session:
        [run] = session.query(ReportRun).all()
        assert (run.attempts, run.status) == (2, "retry")


def test_the_beat_looks_for_due_reports(db: Database, settings: Settings) -> None:
    """Every minute, and a task goes to a worker only when a schedule's period is past its
    sending time (none while nothing is scheduled)."""
    from sincro.reports.schedule import reports_due
    from sincro.reports.sending import due_schedules
    from sincro.worker import beat_schedule

    entry = beat_schedule(settings)["reports-send-due"]
    assert entry == {"task": "sincro.reports.send_due", "schedule": 60.0, "gate": reports_due}
    assert not reports_due(db, settings)
    schedule(db, settings, hour=0)  # daily at midnight: due for the whole day
    assert reports_due(db, settings)
    assert due_schedules(db, settings, at(2026, 3, 31, 7, 59)) != []  # yesterday's hour 0
    schedule_id = schedule(db, settings, hour=23)
    due = {row.id for row, _ in due_schedules(db, settings, at(2026, 3, 31, 22, 59))}
    assert schedule_id not in due
    assert schedule_id in {row.id for row, _ in due_schedules(db, settings, at(2026, 3, 31, 23))}
