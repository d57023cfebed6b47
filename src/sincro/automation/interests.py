"""Interactions become interests: the durable reader of the topic ``assistant.interaction``.

:func:`process_interactions` reads the outbox after a durable position (a ``feed_cursors``
row named ``automation.interests``) locked for its transaction, like the wish list's
back-in-stock reader: any number of workers may run it, the second waits and continues where
the first stopped, and the interests and the position are written in one transaction.

Intents map to kinds as :mod:`sincro.automation.kinds` documents. An interest's strength
halves every ``SINCRO_AUTOMATION_HALF_LIFE_DAYS`` and each interaction adds its confidence,
so "asked twice this week" outweighs "asked once a month ago". A product asked about that is
not available near the customer (their city, else online) becomes a wish in the one wish list
(:mod:`sincro.wishes`, source ``chat``) and a ``back_in_stock`` interest pointing at it."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from pydantic import ValidationError
from sqlalchemy.orm import Session

from sincro.assistant.interactions import INTERACTION, Interaction
from sincro.automation import kinds, repository as repo
from sincro.automation.models import Interest
from sincro.config import Settings
from sincro.customers import lookup as customers
from sincro.db import utcnow
from sincro.errors import SincroError
from sincro.feed import service as feed
from sincro.wishes import service as wishes
from sincro.wishes.schemas import WishIn

log = logging.getLogger("sincro.automation")
READER = "automation.interests"
MAX_SKUS = 10  # SKUs of one turn that count (a turn naming more is a list, not an interest)
DAY = 86_400.0


def decayed(strength: float, since: dt.datetime, at: dt.datetime, half_life_days: float) -> float:
    """``strength`` measured at ``since``, as it stands at ``at`` (halving every half-life)."""
    days = max(0.0, (at - since).total_seconds() / DAY)
    return strength * 0.5 ** (days / half_life_days)


def strength_now(interest: Interest, now: dt.datetime, half_life_days: float) -> float:
    return decayed(interest.strength, interest.strength_at, now, half_life_days)


@dataclass(slots=True)
class ReadRun:
    events: int = 0
    interactions: int = 0
    interests: int = 0
    wishes: int = 0
    position: int = 0


def has_interactions(session: Session) -> bool:
    """Whether the outbox has events this reader has not read (a read, no lock)."""
    return feed.outbox_reader_behind(session, READER)


def process_interactions(
    session: Session, settings: Settings, *, now: dt.datetime | None = None
) -> ReadRun:
    """Read the next batch of the outbox and turn its interactions into interests (see the
    module docstring). One call, one transaction's worth (the caller commits)."""
    now = now or utcnow()
    start, events = feed.outbox_reader_batch(
        session,
        READER,
        limit=settings.automation_batch,
        gap_timeout=settings.feed_gap_timeout_seconds,
        now=now,
    )
    run = ReadRun(events=len(events), position=start)
    if not events:
        return run
    for event in events:
        if event.get("topic") != INTERACTION:
            continue
        try:
            interaction = Interaction.model_validate(event["payload"])
        except ValidationError:
            log.warning("unreadable interaction skipped", extra={"seq": event["seq"]})
            continue
        run.interactions += 1
        apply_interaction(session, settings, interaction, run)
    run.position = events[-1]["seq"]
    feed.move_outbox_reader(session, READER, run.position)
    return run


def apply_interaction(
    session: Session, settings: Settings, interaction: Interaction, run: ReadRun
) -> None:
    """The interests (and wishes) one interaction makes."""
    if interaction.confidence < settings.automation_min_confidence:
        return
    contact = customers.find_customer(session, customer_id=interaction.customer_id)
    if contact is None:  # unknown or erased: nothing is kept about them
        return
    city = interaction.city or contact.city
    state = (interaction.state or contact.state or "").upper() or None

    def bump(kind: str, ref: str, wish_id: int | None = None) -> None:
        _bump(session, settings, interaction, kind, ref[:60], city, state, wish_id)
        run.interests += 1

    intent = interaction.intent
    if intent in kinds.PRODUCT_INTENTS:
        skus = list(dict.fromkeys(s for s in interaction.skus if s))[:MAX_SKUS]
        for sku in skus:
            bump(kinds.PRODUCT, sku)
            wish_id = _wish(session, settings, contact.customer_id, sku, city, state)
            if wish_id is not None:
                bump(kinds.BACK_IN_STOCK, sku, wish_id)
                run.wishes += 1
        if not skus and interaction.category:
            bump(kinds.CATEGORY, interaction.category)
    elif intent in kinds.PLAN_INTENTS:
        bump(kinds.PLAN_UPGRADE, interaction.plan or "")
    elif intent in kinds.CANCEL_INTENTS:
        bump(kinds.CANCELLATION_RISK, interaction.plan or "")


def _bump(
    session: Session,
    settings: Settings,
    interaction: Interaction,
    kind: str,
    ref: str,
    city: str | None,
    state: str | None,
    wish_id: int | None,
) -> None:
    at, weight = interaction.at, interaction.confidence
    half_life = settings.automation_half_life_days
    row = repo.interest(session, interaction.customer_id, kind, ref)
    if row is None:
        row = Interest(
            customer_id=interaction.customer_id,
            kind=kind,
            ref=ref,
            strength=weight,
            strength_at=at,
            hits=0,
            first_seen=at,
            last_seen=at,
        )
        session.add(row)
    elif at >= row.strength_at:
        row.strength = decayed(row.strength, row.strength_at, at, half_life) + weight
        row.strength_at = at
    else:  # an older interaction read late: it counts as it stands now
        row.strength += decayed(weight, at, row.strength_at, half_life)
    row.hits += 1
    row.first_seen = min(row.first_seen, at)
    row.last_seen = max(row.last_seen, at)
    row.city, row.state = city, state
    if wish_id is not None:
        row.wish_id = wish_id
    session.flush()


def _wish(
    session: Session,
    settings: Settings,
    customer_id: int,
    sku: str,
    city: str | None,
    state: str | None,
) -> int | None:
    """The open wish for ``sku`` near the customer (their city's stores, else online), made
    when the product is not available there now; None when it is (or cannot be wished)."""
    place = {"city": city, "state": state} if city and state else {"location": "online"}
    try:
        body = WishIn.model_validate(
            {"customer_id": customer_id, "sku": sku, "source": "chat", **place}
        )
    except ValidationError:
        return None
    try:
        with session.begin_nested():
            wish, _created = wishes.create_wish(
                session, body, max_open=settings.wishes_max_open_per_customer
            )
            return wish.id
    except SincroError:  # available there now, unknown SKU, too many open wishes
        return None
