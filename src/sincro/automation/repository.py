"""All SQL of marketing automation (interests, rules, offers)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import CursorResult, delete, func, select
from sqlalchemy.orm import Session

from sincro.automation.models import Interest, Offer, Rule

CHUNK = 1000  # ids per IN (...) list


def _chunks(values: Sequence[int]) -> Iterable[Sequence[int]]:
    for start in range(0, len(values), CHUNK):
        yield values[start : start + CHUNK]


# --- interests ------------------------------------------------------------------------------


def interest(session: Session, customer_id: int, kind: str, ref: str) -> Interest | None:
    return session.scalars(
        select(Interest).where(
            Interest.customer_id == customer_id, Interest.kind == kind, Interest.ref == ref
        )
    ).first()


def interests_seen_since(session: Session, kind: str, since: dt.datetime) -> list[Interest]:
    return list(
        session.scalars(
            select(Interest)
            .where(Interest.kind == kind, Interest.last_seen >= since)
            .order_by(Interest.id)
        )
    )


def interest_summary(session: Session, since: dt.datetime, limit: int) -> list[Any]:
    """(kind, ref, customers, interactions, last seen) of interests seen since ``since``,
    most customers first: an aggregate, no person named."""
    return list(
        session.execute(
            select(
                Interest.kind,
                Interest.ref,
                func.count().label("customers"),
                func.sum(Interest.hits).label("hits"),
                func.max(Interest.last_seen).label("last_seen"),
            )
            .where(Interest.last_seen >= since)
            .group_by(Interest.kind, Interest.ref)
            .order_by(func.count().desc(), Interest.kind, Interest.ref)
            .limit(limit)
        )
    )


def interests_of(session: Session, customer_id: int) -> list[Interest]:
    return list(
        session.scalars(
            select(Interest).where(Interest.customer_id == customer_id).order_by(Interest.id)
        )
    )


def remove_interests_of(session: Session, customer_id: int) -> int:
    result: CursorResult[Any] = session.execute(  # type: ignore[assignment]
        delete(Interest).where(Interest.customer_id == customer_id)
    )
    return int(result.rowcount or 0)


# --- rules ----------------------------------------------------------------------------------


def rules(session: Session) -> list[Rule]:
    return list(session.scalars(select(Rule).order_by(Rule.id)))


def rule(session: Session, rule_id: int, *, lock: bool = False) -> Rule | None:
    query = select(Rule).where(Rule.id == rule_id)
    return session.scalars(query.with_for_update() if lock else query).first()


def lock_active_rules(session: Session) -> list[Rule]:
    """The active rules, their rows locked until the caller's transaction ends: a second
    evaluation waits and then sees the first one's offers (caps hold across rules)."""
    return list(
        session.scalars(
            select(Rule).where(Rule.active.is_(True)).order_by(Rule.id).with_for_update()
        )
    )


# --- offers ---------------------------------------------------------------------------------


def triggers_done(
    session: Session, rule_id: int, customer_ids: Sequence[int]
) -> set[tuple[int, str]]:
    done: set[tuple[int, str]] = set()
    for chunk in _chunks(sorted(set(customer_ids))):
        done.update(
            (int(c), str(t))
            for c, t in session.execute(
                select(Offer.customer_id, Offer.trigger).where(
                    Offer.rule_id == rule_id, Offer.customer_id.in_(chunk)
                )
            )
        )
    return done


def offers_since(
    session: Session, customer_ids: Sequence[int], since: dt.datetime
) -> dict[int, int]:
    """Offers per customer sent since ``since`` (every rule: the frequency cap)."""
    counts: dict[int, int] = {}
    for chunk in _chunks(sorted(set(customer_ids))):
        counts.update(
            (int(c), int(n))
            for c, n in session.execute(
                select(Offer.customer_id, func.count())
                .where(Offer.customer_id.in_(chunk), Offer.sent_at >= since)
                .group_by(Offer.customer_id)
            )
        )
    return counts


def unconverted_since(session: Session, since: dt.datetime) -> list[Offer]:
    """Offers of a product not converted yet, sent since ``since``."""
    return list(
        session.scalars(
            select(Offer)
            .where(Offer.sku.is_not(None), Offer.converted_at.is_(None), Offer.sent_at >= since)
            .order_by(Offer.id)
        )
    )


def results_per_rule(
    session: Session, since: dt.datetime, until: dt.datetime
) -> dict[int, tuple[int, int]]:
    """(offers sent, converted) per rule for offers sent in [since, until)."""
    rows = session.execute(
        select(Offer.rule_id, func.count(), func.count(Offer.converted_at))
        .where(Offer.sent_at >= since, Offer.sent_at < until)
        .group_by(Offer.rule_id)
    )
    return {int(r): (int(s), int(c)) for r, s, c in rows}


def sent_per_day(session: Session, since: dt.datetime, until: dt.datetime) -> list[Offer]:
    """Offers sent or converted in [since, until) (days are cut in the caller's zone)."""
    return list(
        session.scalars(
            select(Offer)
            .where(
                ((Offer.sent_at >= since) & (Offer.sent_at < until))
                | ((Offer.converted_at >= since) & (Offer.converted_at < until))
            )
            .order_by(Offer.id)
        )
    )


def offers_of(session: Session, customer_id: int) -> list[Offer]:
    return list(
        session.scalars(select(Offer).where(Offer.customer_id == customer_id).order_by(Offer.id))
    )
