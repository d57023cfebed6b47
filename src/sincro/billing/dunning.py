"""Which notice a receivable is owed today, in its customer's local date: pure rules.

Steps of a receivable, each with the local date it falls due:

- ``issued`` on the issue date;
- ``due_soon`` ``due_soon_days`` before the due date;
- ``overdue_<n>`` ``n`` days after the due date, for each ``n`` of ``overdue_days``.

A step is *eligible* on a local date when its date has come, it is at most
``catch_up_days`` old (a receivable first seen long after a step — an ERP backlog, the first
sync of two years of invoices — does not get a flood of stale reminders), it was not recorded
yet, and it comes after every step already recorded. When several are eligible at once
(a run missed for a day, an invoice issued two days before its due date), only the latest
goes; the earlier ones are recorded as superseded.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

ISSUED = "issued"
DUE_SOON = "due_soon"
OVERDUE = "overdue_"


@dataclass(frozen=True, slots=True)
class Plan:
    due_soon_days: int
    overdue_days: tuple[int, ...]
    catch_up_days: int

    @property
    def horizon_days(self) -> int:
        """How far behind its due date a receivable can still owe a step."""
        return max(self.overdue_days, default=0) + self.catch_up_days


def kind_of(step: str) -> str:
    """The message kind of a step: ``issued``, ``due_soon`` or ``overdue``."""
    return "overdue" if step.startswith(OVERDUE) else step


def steps(issued_on: dt.date | None, due_date: dt.date, plan: Plan) -> list[tuple[str, dt.date]]:
    """Every step of a receivable with its date, in sending order."""
    out: list[tuple[str, dt.date]] = []
    if issued_on is not None:
        out.append((ISSUED, issued_on))
    out.append((DUE_SOON, due_date - dt.timedelta(days=plan.due_soon_days)))
    out += [(f"{OVERDUE}{n}", due_date + dt.timedelta(days=n)) for n in sorted(plan.overdue_days)]
    return out


@dataclass(frozen=True, slots=True)
class Decision:
    send: str | None
    supersede: tuple[str, ...]


def decide(
    issued_on: dt.date | None,
    due_date: dt.date,
    recorded: set[str] | frozenset[str],
    today: dt.date,
    plan: Plan,
) -> Decision:
    """What to do for one open receivable on the customer's local ``today``."""
    ordered = steps(issued_on, due_date, plan)
    rank = {name: i for i, (name, _) in enumerate(ordered)}
    last_recorded = max((rank[s] for s in recorded if s in rank), default=-1)
    eligible = [
        name
        for name, day in ordered
        if rank[name] > last_recorded and day <= today and (today - day).days <= plan.catch_up_days
    ]
    if not eligible:
        return Decision(None, ())
    return Decision(eligible[-1], tuple(eligible[:-1]))


def within_hours(local: dt.datetime, from_hour: int, until_hour: int) -> bool:
    """Whether a local time is inside the sending hours [from, until)."""
    return from_hour <= local.hour < until_hour
