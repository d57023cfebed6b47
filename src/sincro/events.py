"""The transactional outbox: one ordered feed of events, each with a topic.

Every change of a stock level writes an :class:`Event` row in the same transaction as the
change, so the feed can never announce something that was rolled back nor miss something that
was committed. ``seq`` is the global sequence number; readers tail it (see
:mod:`sincro.feed.hub`) and tolerate the short-lived gaps PostgreSQL sequences leave while a
transaction that drew a number has not committed yet.

Topics. Stock changes (topic ``stock``, the hot path: thousands per ERP file) keep their own
columns and their writer :func:`record_events`, unchanged. Any other domain registers a topic
with the pydantic model of its payload (:func:`register_topic`, at import time) and writes
with :func:`publish`; the payload is validated and stored as JSON in ``payload``, the stock
columns stay NULL. Both travel the same feed, in one ``seq`` order: the tailer, the hub, the
RabbitMQ relay and the SSE endpoint carry every topic (see :func:`event_to_dict` for the shape).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from sqlalchemy import JSON, BigInteger, Index, Integer, String
from sqlalchemy.orm import Mapped, Session, mapped_column

from sincro.db import Base, UTCDateTime, insert_rows, on_commit, utcnow
from sincro.outbox_notify import signal_commit

BigIntPK = BigInteger().with_variant(Integer(), "sqlite")
STOCK = "stock"
TOPIC_PATTERN = r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$"
TOPIC_MAX_LENGTH = 40


class Event(Base):
    __tablename__ = "events"
    __table_args__ = (Index("ix_events_sku_seq", "sku", "seq"), {"sqlite_autoincrement": True})

    seq: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    # the stock writers leave ``topic`` to the server default: their inserts stay as they were
    topic: Mapped[str] = mapped_column(String(TOPIC_MAX_LENGTH), server_default=STOCK)
    sku: Mapped[str | None] = mapped_column(String(40))
    location: Mapped[str | None] = mapped_column(String(32))
    available: Mapped[int | None] = mapped_column(Integer)
    on_hand: Mapped[int | None] = mapped_column(Integer)
    reserved: Mapped[int | None] = mapped_column(Integer)
    version: Mapped[int | None] = mapped_column(Integer)
    cause: Mapped[str | None] = mapped_column(String(20))
    reference: Mapped[str | None] = mapped_column(String(80))
    payload: Mapped[Any] = mapped_column(JSON, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


@dataclass(frozen=True, slots=True)
class AvailabilityChange:
    sku: str
    location: str
    available: int
    on_hand: int
    reserved: int
    version: int
    cause: str
    reference: str | None = None


class UnknownTopic(ValueError):
    """A topic nobody registered (or ``stock``, which has its own writer)."""


_topics: dict[str, type[BaseModel] | None] = {STOCK: None}
_listeners: list[Any] = []


def register_topic(name: str, model: type[BaseModel]) -> None:
    """Declare a topic and the pydantic model of its payload (a domain does it at import).

    Registering the same model again is a no-op; another model for a known name is an error,
    since stored events of that topic would no longer parse."""
    if not re.match(TOPIC_PATTERN, name) or len(name) > TOPIC_MAX_LENGTH:
        raise ValueError(f"topic names are dotted lowercase words, e.g. 'forecast.alert': {name!r}")
    known = _topics.get(name, model)
    if name == STOCK or known is not model:
        raise ValueError(f"topic {name!r} is already registered")
    _topics[name] = model


def topics() -> frozenset[str]:
    """Every known topic, ``stock`` included."""
    return frozenset(_topics)


def payload_model(topic: str) -> type[BaseModel]:
    """The payload model of a registered topic (not ``stock``, whose events are columns)."""
    model = _topics.get(topic)
    if model is None:
        raise UnknownTopic(f"no payload model for topic {topic!r}")
    return model


def parse_payload(event: Mapping[str, Any]) -> BaseModel:
    """The typed payload of a non-stock event as the feed delivers it."""
    return payload_model(event["topic"]).model_validate(event["payload"])


def add_commit_listener(callback: Any) -> None:
    """Call ``callback()`` after any transaction that recorded events commits (wakes tailers)."""
    _listeners.append(callback)


def remove_commit_listener(callback: Any) -> None:
    if callback in _listeners:
        _listeners.remove(callback)


def wake_commit_listeners(database_url: str | None = None) -> None:
    """Call the commit listeners now, and on PostgreSQL notify the other processes: for
    writers that commit outside a Session (the lean reservation path), after their COMMIT."""
    for callback in list(_listeners):
        callback()
    if database_url is not None and database_url.startswith("postgresql"):
        signal_commit(database_url)


def _wake_listeners_on_commit(session: Session) -> None:
    if session.info.get("events_listener_armed"):
        return
    session.info["events_listener_armed"] = True
    for callback in _listeners:
        on_commit(session, callback)
    bind = session.get_bind()
    if bind.dialect.name == "postgresql":  # other processes' hubs LISTEN (sincro.feed.notify)
        url = engine_url(bind.engine)
        on_commit(session, lambda: signal_commit(url))


_engine_urls: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()


def engine_url(engine: Any) -> str:
    """The engine's URL with its password (rendered once per engine: it costs ~8 µs)."""
    url = _engine_urls.get(engine)
    if url is None:
        url = _engine_urls[engine] = engine.url.render_as_string(hide_password=False)
    return url


def record_events(session: Session, changes: list[AvailabilityChange]) -> None:
    """Append availability changes (topic ``stock``) to the outbox in the caller's transaction."""
    if not changes:
        return
    now = utcnow()
    insert_rows(
        session,
        Event.__table__,  # type: ignore[arg-type]
        [
            {
                "sku": c.sku,
                "location": c.location,
                "available": c.available,
                "on_hand": c.on_hand,
                "reserved": c.reserved,
                "version": c.version,
                "cause": c.cause,
                "reference": c.reference,
                "created_at": now,
            }
            for c in changes
        ],
    )
    _wake_listeners_on_commit(session)


_INSERT_EVENT = Event.__table__.insert()  # type: ignore[attr-defined]  # built once


def publish(session: Session, topic: str, payload: BaseModel | Mapping[str, Any]) -> None:
    """Append one event of a registered topic to the outbox in the caller's transaction.

    ``payload`` is an instance of the topic's model or a mapping it validates (a
    ``pydantic.ValidationError`` otherwise); it is stored as the model's JSON."""
    model = payload_model(topic)
    value = payload if isinstance(payload, model) else model.model_validate(payload)
    session.execute(
        _INSERT_EVENT,
        {"topic": topic, "payload": value.model_dump(mode="json"), "created_at": utcnow()},
    )
    _wake_listeners_on_commit(session)


def event_columns() -> tuple[Any, ...]:
    """The columns of an event, to read rows rather than ORM objects (about 4x cheaper per
    event; the feed reads them by the thousand)."""
    E = Event
    return (E.seq, E.topic, E.sku, E.location, E.available, E.on_hand, E.reserved, E.version,
            E.cause, E.reference, E.payload, E.created_at)  # fmt: skip


def event_to_dict(event: Any) -> dict[str, Any]:
    """An :class:`Event` or a row of :func:`event_columns` as the feed publishes it.

    A stock event has exactly the fields the feed always had (no ``topic``: existing SSE and
    webhook clients see the same JSON); an event of another topic is ``{"seq", "topic",
    "payload", "at"}``. :func:`topic_of` tells them apart."""
    e = event
    row = (e.seq, e.topic, e.sku, e.location, e.available, e.on_hand, e.reserved, e.version,
           e.cause, e.reference, e.payload, e.created_at)  # fmt: skip
    return event_dicts([row], dt.datetime.isoformat)[0]


def event_dicts(rows: Iterable[Sequence[Any]], stamp: Callable[[Any], str]) -> list[dict[str, Any]]:
    """Events as :func:`event_to_dict` shapes them, from plain tuples in the order of
    :func:`event_columns`, ``at`` being ``stamp(created_at)``: for the tailer's raw reads
    (thousands a second) plain tuples and :func:`iso_at` of the stored text, without a row
    object nor a datetime per event. A non-stock payload still in JSON text (SQLite) is
    parsed."""
    out: list[dict[str, Any]] = []
    add = out.append
    for seq, topic, sku, loc, avail, on_hand, reserved, version, cause, ref, payload, made in rows:
        at = stamp(made)
        if topic != STOCK:
            if isinstance(payload, str):
                payload = json.loads(payload)
            add({"seq": seq, "topic": topic, "payload": payload, "at": at})
        else:
            add({"seq": seq, "sku": sku, "location": loc, "available": avail,
                 "on_hand": on_hand, "reserved": reserved, "version": version, "cause": cause,
                 "reference": ref, "at": at})  # fmt: skip
    return out


def iso_at(stored: str) -> str:
    """The text of a stored ``created_at`` (UTC, ``YYYY-MM-DD HH:MM:SS[.ffffff]``: PostgreSQL's
    ISO output, trailing zeros of the fraction trimmed, or SQLite's column) as the feed's
    ``at``: exactly ``created_at.isoformat()`` of the aware datetime, without building one.
    Any other spelling goes through :meth:`datetime.fromisoformat`."""
    if len(stored) >= 19 and stored[10] == " " and stored[4] == "-" and stored[16] == ":":
        if len(stored) == 19:
            return f"{stored[:10]}T{stored[11:]}+00:00"
        fraction = stored[20:]
        if stored[19] == "." and 0 < len(fraction) <= 6 and fraction.isdigit():
            if fraction.strip("0"):
                return f"{stored[:10]}T{stored[11:19]}.{fraction.ljust(6, '0')}+00:00"
            return f"{stored[:10]}T{stored[11:19]}+00:00"
    return dt.datetime.fromisoformat(stored).replace(tzinfo=dt.UTC).isoformat()


def topic_of(event: Mapping[str, Any]) -> str:
    """The topic of an event as :func:`event_to_dict` shapes it (stock events carry none)."""
    return event.get("topic", STOCK)
