from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from sincro.db import Base, UTCDateTime, utcnow


class ReportSchedule(Base):
    """A report e-mailed on a cadence: daily, weekly (on ``weekday``, 0 = Monday) or monthly
    (on ``day_of_month``, 1–28) at ``hour`` local time (``reports_time_zone``). ``params`` are
    relative to the day it runs (the last N days, the last N months)."""

    __tablename__ = "report_schedules"

    id: Mapped[int] = mapped_column(primary_key=True)
    report: Mapped[str] = mapped_column(String(20))  # new_customers|defaulters|billing
    params: Mapped[Any] = mapped_column(JSON)
    recipients: Mapped[Any] = mapped_column(JSON)  # list of addresses
    cadence: Mapped[str] = mapped_column(String(8))  # daily|weekly|monthly
    hour: Mapped[int] = mapped_column(Integer)
    weekday: Mapped[int] = mapped_column(Integer, default=0)
    day_of_month: Mapped[int] = mapped_column(Integer, default=1)
    active: Mapped[bool] = mapped_column(default=True)
    created_by: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class ReportRun(Base):
    """One sending of a schedule for one period (``2026-12-06``, ``2026-W49``, ``2026-12``).
    The unique (schedule, period) pair is the claim: of several beat or worker processes,
    the one whose insert commits sends; the others see the row and stop."""

    __tablename__ = "report_runs"
    __table_args__ = (UniqueConstraint("schedule_id", "period"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    schedule_id: Mapped[int] = mapped_column(ForeignKey("report_schedules.id", ondelete="CASCADE"))
    period: Mapped[str] = mapped_column(String(12))
    status: Mapped[str] = mapped_column(String(10), default="sending")  # sending|sent|retry|failed
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    detail: Mapped[str] = mapped_column(String(300), default="")
    claimed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
