"""The wish list: customers waiting for a SKU at a place, and the back-in-stock notice.

The one door to wishes for every domain: the API and console here, and the assistant's
automation later, which claims wishes with :func:`claim` like the notice does, so a wish is
acted on once whoever acts. Functions take the caller's session and never commit.

**The trigger.** :func:`process_changes` reads the outbox (the inventory change feed) after a
durable position (a ``feed_cursors`` row named ``wishes.back_in_stock``), locked for its
transaction, so any number of workers may run it: the second waits and continues where the
first stopped. For each stock event leaving a SKU available (> 0) at a place, every open wish
of that SKU made before the event (``since_seq``) whose place matches is claimed
(conditional update) and its mail handed to messaging (dedupe key ``wish:<id>``), in the same
transaction that moves the position. Nothing is sent twice and nothing is lost: a crash before
commit leaves the position, the claims and the messages unwritten together.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from sincro.catalog import service as catalog
from sincro.config import Settings
from sincro.customers import lookup as customers
from sincro.db import utcnow
from sincro.events import STOCK
from sincro.feed import service as feed
from sincro.inventory import service as inventory
from sincro.messaging import service as messaging
from sincro.text_pt import fold
from sincro.wishes import repository as repo
from sincro.wishes.exceptions import (
    AlreadyAvailable,
    TooManyWishes,
    UnknownCustomer,
    UnknownReference,
    WishNotFound,
)
from sincro.wishes.messages import ensure_template
from sincro.wishes.models import StockWish
from sincro.wishes.schemas import WishIn, WishOut

log = logging.getLogger("sincro.wishes")
READER = "wishes.back_in_stock"
VIA_NOTICE = "back_in_stock"
PURPOSE = "service"
TEMPLATE_KEY = "wishes.back_in_stock"
Sender = Callable[..., bool]


def create_wish(session: Session, body: WishIn, *, max_open: int) -> tuple[StockWish, bool]:
    """Record a wish (or return the same open one: asking twice is one wish). 422 naming the
    field for an unknown customer, SKU or location; 409 ``already_available`` when the wished
    place has units now (nothing to wait for), 409 past ``max_open`` open wishes."""
    contact = customers.find_customer(session, customer_id=body.customer_id, email=body.email)
    if contact is None:
        field = "customer_id" if body.customer_id is not None else "email"
        raise UnknownCustomer("no known customer with that id or e-mail", field=field)
    if catalog.find_product(session, body.sku) is None:
        raise UnknownReference(f"unknown SKU {body.sku!r}", field="sku")
    scope = body.scope
    location = body.location if scope == "location" else None
    if location is not None:
        place = catalog.places_by_code(session, [location]).get(location)
        if place is None or not place.active:
            raise UnknownReference(f"unknown or inactive location {location!r}", field="location")
    existing = repo.open_wish_like(
        session, contact.customer_id, body.sku, scope, location, body.city, body.state
    )
    if existing is not None:
        return existing, False
    if repo.open_count(session, contact.customer_id) >= max_open:
        raise TooManyWishes(f"a customer may wait for at most {max_open} products at once")
    since_seq = feed.outbox_end(session)  # before the stock is read: no change falls between
    wish = StockWish(
        customer_id=contact.customer_id,
        sku=body.sku,
        scope=scope,
        location_code=location,
        city=body.city,
        state=body.state,
    )
    _refuse_if_available(session, wish)
    wish.source = body.source
    wish.since_seq = since_seq
    wish.created_at = utcnow()
    session.add(wish)
    session.flush()
    return wish, True


def _refuse_if_available(session: Session, wish: StockWish) -> None:
    """A wish is for a place that has none now: a 409 ``already_available`` listing where
    there is some otherwise (so the site or the chat can say so)."""
    stock = inventory.available_by_location(session, wish.sku)
    if not stock:
        return
    places = catalog.places_by_code(session, stock)
    here = sorted(code for code, place in places.items() if matches(wish, place))
    if here:
        details = [{"location": code, "available": stock[code]} for code in here[:10]]
        raise AlreadyAvailable(
            f"{wish.sku} is available at the wished place now", field="sku", details=details
        )


def get_wish(session: Session, wish_id: int) -> StockWish:
    wish = repo.get(session, wish_id)
    if wish is None:
        raise WishNotFound(f"wish {wish_id} not found", field="id")
    return wish


def delete_wish(session: Session, wish_id: int) -> None:
    if not repo.remove(session, wish_id):
        raise WishNotFound(f"wish {wish_id} not found", field="id")


def list_wishes(
    session: Session,
    *,
    customer_id: int | None = None,
    sku: str | None = None,
    status: str | None = None,
    offset: int = 0,
    limit: int = 50,
) -> tuple[list[StockWish], int]:
    """Wishes, newest first; ``status`` ``open`` or ``notified``."""
    return repo.page(
        session, customer_id=customer_id, sku=sku, status=status, offset=offset, limit=limit
    )


def open_wishes(session: Session, skus: Iterable[str]) -> list[StockWish]:
    """Open wishes of these SKUs (for the assistant's rules)."""
    return repo.open_wishes_for(session, skus)


def claim(
    session: Session,
    wish_id: int,
    *,
    via: str,
    trigger_seq: int | None = None,
    trigger_location: str | None = None,
) -> bool:
    """Mark a wish acted on by ``via``, once: True for the one claimer that did it."""
    return repo.claim(
        session, wish_id, via=via, trigger_seq=trigger_seq, trigger_location=trigger_location
    )


def export_customer(session: Session, customer_id: int) -> list[dict[str, Any]]:
    """A customer's wishes for their LGPD data export."""
    return [
        WishOut.model_validate(w).model_dump(mode="json")
        for w in repo.of_customer(session, customer_id)
    ]


def erase_customer(session: Session, customer_id: int) -> int:
    """Forget a customer's wishes on an LGPD erasure (nothing billing must keep); how many."""
    return repo.remove_of_customer(session, customer_id)


def counts_per_day(session: Session, since: dt.datetime) -> list[tuple[Any, int, int]]:
    return repo.counts_per_day(session, since)


def customer_names(session: Session, ids: Iterable[int]) -> dict[int, str]:
    return customers.customer_names(session, list(ids))


# --- the back-in-stock trigger ------------------------------------------------------------


def matches(wish: StockWish, place: catalog.Place) -> bool:
    """Whether stock at ``place`` fulfils ``wish``."""
    if not place.active:
        return False
    if wish.scope == "location":
        return wish.location_code == place.code
    if wish.scope == "online":
        return place.ships_online
    return (
        place.kind == "store"
        and place.state == wish.state
        and fold(place.city) == fold(wish.city or "")
    )


@dataclass(slots=True)
class FeedRun:
    events: int = 0
    notified: int = 0
    refused: int = 0
    position: int = 0


def notice_context(wish: StockWish, product_name: str, place: catalog.Place) -> dict[str, Any]:
    where = {
        "location": f"{place.name} ({place.city}/{place.state})",
        "online": "na loja online",
        "city": f"{place.name}, {place.city}/{place.state}",
    }[wish.scope]
    return {
        "product_name": product_name,
        "sku": wish.sku,
        "place": where,
        "scope": wish.scope,
        "online": wish.scope == "online",
        "location_name": place.name,
        "city": place.city,
        "state": place.state,
        "wished_on": wish.created_at.astimezone(ZoneInfo(place.time_zone)).strftime("%d/%m/%Y"),
    }


def has_changes(session: Session) -> bool:
    """Whether the change feed has events the back-in-stock reader has not read (a read)."""
    return feed.outbox_reader_behind(session, READER)


def process_changes(
    session: Session,
    settings: Settings,
    *,
    now: dt.datetime | None = None,
    send: Sender | None = None,
) -> FeedRun:
    """Read the next batch of the change feed and notify the wishes it fulfils (see the
    module docstring). One call, one transaction's worth (the caller commits)."""
    now = now or utcnow()
    start, events = feed.outbox_reader_batch(
        session,
        READER,
        limit=settings.wishes_scan_batch,
        gap_timeout=settings.feed_gap_timeout_seconds,
        now=now,
    )
    run = FeedRun(events=len(events), position=start)
    if not events:
        return run
    positive = [
        e
        for e in events
        if e.get("topic", STOCK) == STOCK and e.get("sku") and (e["available"] or 0) > 0
    ]
    wishes = repo.open_wishes_for(session, {e["sku"] for e in positive})
    if wishes:
        send = send or messaging.send_transactional
        ensure_template(session)
        by_sku: dict[str, list[StockWish]] = {}
        for wish in wishes:
            by_sku.setdefault(wish.sku, []).append(wish)
        places = catalog.places_by_code(session, {e["location"] for e in positive})
        names = {s: p.name for s, p in catalog.find_products(session, by_sku).items()}
        done: set[int] = set()
        for event in positive:
            place = places.get(event["location"])
            if place is None:
                continue
            for wish in by_sku.get(event["sku"], ()):
                if wish.id in done or wish.since_seq >= event["seq"] or not matches(wish, place):
                    continue
                done.add(wish.id)
                if not repo.claim(
                    session,
                    wish.id,
                    via=VIA_NOTICE,
                    trigger_seq=event["seq"],
                    trigger_location=place.code,
                ):
                    continue  # the assistant (or another reader) acted on it first
                sent = send(
                    session,
                    customer_id=wish.customer_id,
                    purpose=PURPOSE,
                    kind="wishes.back_in_stock",
                    dedupe_key=f"wish:{wish.id}",
                    template_key=TEMPLATE_KEY,
                    context=notice_context(wish, names.get(wish.sku, wish.sku), place),
                    attachments=(),
                )
                if sent:
                    run.notified += 1
                else:
                    run.refused += 1
    run.position = events[-1]["seq"]
    feed.move_outbox_reader(session, READER, run.position)
    return run
