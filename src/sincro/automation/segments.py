"""The interest criterion of a customers segment: "asked the assistant about product X / a
plan upgrade in the last N days". The customers domain's audience query applies it
(:func:`interest_clause`); this module imports nothing of customers (no import cycle)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import ColumnElement, exists, select

from sincro.automation.kinds import Kind
from sincro.automation.models import Interest
from sincro.db import utcnow
from sincro.inputs import PlainText


class InterestCriterion(BaseModel):
    """Customers with an interest of ``kind`` (and ``ref``, a SKU, category or plan code,
    when given) seen in the last ``within_days`` days."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    kind: Kind
    ref: PlainText | None = Field(default=None, min_length=1, max_length=60)
    within_days: int = Field(default=30, ge=1, le=365)


def interest_clause(
    criterion: InterestCriterion, customer_id: Any, now: dt.datetime | None = None
) -> ColumnElement[bool]:
    """``EXISTS`` an interest of ``customer_id`` (a column) matching ``criterion``."""
    since = (now or utcnow()) - dt.timedelta(days=criterion.within_days)
    query = select(Interest.id).where(
        Interest.customer_id == customer_id,
        Interest.kind == criterion.kind,
        Interest.last_seen >= since,
    )
    if criterion.ref is not None:
        query = query.where(Interest.ref == criterion.ref)
    return exists(query)
