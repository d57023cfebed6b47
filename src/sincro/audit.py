"""The audit log: who (which key, user, CLI or system job) did what, when, before and after.

Any domain writes an entry with :func:`record` inside the transaction that makes the change,
so the log holds exactly the changes that were committed. Entries are append-only.

- **Who** is an :class:`Actor`: an API key (``Principal.actor()`` in :mod:`sincro.access`),
  a console user, the CLI (the operating-system user that ran it) or a system job; for HTTP
  requests also the client address and the ``X-Request-ID`` when the client sent one.
- **What** is an action, ``<entity>.<verb>`` (``stock.count``, ``key.create``, ``key.revoke``,
  ``user.create``, ``webhook.create``, ``webhook.delete``, ``webhook.resume``,
  ``sync.replay``), on an :class:`Entity` (a type and an id).
- **Before / after** are small JSON documents of the fields that matter. Personal data never
  reaches them in clear: values under personal keys (``email``, ``cpf``, ``cnpj``, …) and any
  string shaped like an e-mail address, a CPF, a CNPJ or a phone number are masked
  (:func:`mask_personal`, with :mod:`sincro.text_pt`'s patterns and mask).

:func:`read` lists entries newest first with filters (:func:`parse_filter`) and pagination;
``GET /v1/audit`` and the console page "Auditoria" (both in :mod:`sincro.access`) read through
it.
"""

from __future__ import annotations

import datetime as dt
import getpass
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any, Protocol

from sqlalchemy import JSON, BigInteger, Index, Integer, String, func, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from sincro import text_pt
from sincro.clients import client_address
from sincro.db import Base, UTCDateTime, utcnow
from sincro.errors import InvalidInput

BigIntPK = BigInteger().with_variant(Integer(), "sqlite")
LABEL_MAX, ID_MAX, CLIENT_MAX = 120, 64, 64


class ActorKind(StrEnum):
    key = "key"
    user = "user"
    system = "system"
    cli = "cli"


class _Connection(Protocol):
    """What :meth:`Actor.seen_at` reads of a request (a Starlette ``Request`` has it)."""

    @property
    def headers(self) -> Mapping[str, str]: ...

    @property
    def scope(self) -> Any: ...


@dataclass(frozen=True, slots=True)
class Actor:
    """Who acts: kind, stable id (key or user id), a readable label, and request context."""

    kind: ActorKind
    id: str | None
    label: str
    request_id: str | None = None
    client: str | None = None

    @classmethod
    def key(cls, key_id: int, name: str) -> Actor:
        """An API key (endpoints get it from the principal: ``principal.actor(request)``)."""
        return cls(ActorKind.key, str(key_id), name[:LABEL_MAX])

    @classmethod
    def user(cls, user_id: int, name: str) -> Actor:
        """A console user, labelled by name (never by e-mail)."""
        return cls(ActorKind.user, str(user_id), name[:LABEL_MAX])

    @classmethod
    def cli(cls, label: str | None = None) -> Actor:
        """The command line, labelled with the operating-system user that ran it."""
        return cls(ActorKind.cli, None, (label or _os_user())[:LABEL_MAX])

    @classmethod
    def system(cls, label: str) -> Actor:
        """A job of Sincro itself (a task, a sync, a sweep)."""
        return cls(ActorKind.system, None, label[:LABEL_MAX])

    def seen_at(self, request: _Connection | None) -> Actor:
        """This actor with the client address (:func:`sincro.clients.client_address`: the
        forwarded one only from a trusted proxy) and ``X-Request-ID`` of an HTTP request."""
        if request is None:
            return self
        client = client_address(request)
        request_id = request.headers.get("x-request-id")
        return replace(
            self,
            request_id=request_id[:ID_MAX] if request_id else None,
            client=client[:CLIENT_MAX] if client else None,
        )


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (e.g. a container's arbitrary uid)
        return "cli"


@dataclass(frozen=True, slots=True)
class Entity:
    """What was acted on: a type (``api_key``, ``stock_level``, …) and its id."""

    type: str
    id: str | int | None

    @property
    def key(self) -> str | None:
        return None if self.id is None else str(self.id)


class AuditEntry(Base):
    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_entity", "entity_type", "entity_id"),
        Index("ix_audit_log_actor", "actor_kind", "actor_id"),
        Index("ix_audit_log_action", "action"),
        Index("ix_audit_log_at", "at"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor_kind: Mapped[str] = mapped_column(String(8))
    actor_id: Mapped[str | None] = mapped_column(String(ID_MAX))
    actor_label: Mapped[str] = mapped_column(String(LABEL_MAX))
    action: Mapped[str] = mapped_column(String(40))
    entity_type: Mapped[str] = mapped_column(String(40))
    entity_id: Mapped[str | None] = mapped_column(String(120))
    before: Mapped[Any] = mapped_column(JSON, nullable=True)
    after: Mapped[Any] = mapped_column(JSON, nullable=True)
    request_id: Mapped[str | None] = mapped_column(String(ID_MAX))
    client: Mapped[str | None] = mapped_column(String(CLIENT_MAX))


# --- personal data ---------------------------------------------------------------------------

PERSONAL_KEYS = frozenset({"email", "e_mail", "cpf", "cnpj", "cpf_cnpj", "document", "phone"})


def mask_text(text: str) -> str:
    """Every CPF, CNPJ, e-mail address and phone number in ``text`` masked in place (first
    and last two characters kept: ``an*****************br``), by :mod:`sincro.text_pt`."""
    for pattern in text_pt.PERSONAL_PATTERNS:
        text = pattern.sub(lambda match: text_pt.mask(match.group(0)), text)
    return text


def mask_personal(value: Any) -> Any:
    """``value`` (JSON-like) with personal data masked: every value under a personal key, and
    CPF, CNPJ, e-mail and phone shapes inside any string."""
    if isinstance(value, Mapping):
        return {
            str(k): _mask_value(v) if str(k).lower() in PERSONAL_KEYS else mask_personal(v)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [mask_personal(v) for v in value]
    if isinstance(value, str):
        return mask_text(value)
    return value


def _mask_value(value: Any) -> Any:
    return None if value is None else text_pt.mask(str(value))


# --- writing and reading ---------------------------------------------------------------------


def record(
    session: Session,
    actor: Actor,
    action: str,
    entity: Entity,
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
) -> AuditEntry:
    """Append one entry in the caller's transaction (it commits or rolls back with the change).

    ``before``/``after`` must be JSON-serialisable; personal data in them is masked."""
    entry = AuditEntry(
        at=utcnow(),
        actor_kind=actor.kind.value,
        actor_id=actor.id,
        actor_label=actor.label,
        action=action,
        entity_type=entity.type,
        entity_id=entity.key,
        before=None if before is None else mask_personal(before),
        after=None if after is None else mask_personal(after),
        request_id=actor.request_id,
        client=actor.client,
    )
    session.add(entry)
    session.flush()
    return entry


@dataclass(frozen=True, slots=True)
class AuditFilter:
    """Filters of :func:`read`; all optional. ``action`` ending in ``.`` is a prefix
    (``webhook.`` matches every webhook action)."""

    actor_kind: ActorKind | None = None
    actor_id: str | None = None
    action: str | None = None
    entity_type: str | None = None
    entity_id: str | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None


def parse_filter(
    actor: str | None = None,
    action: str | None = None,
    entity: str | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
) -> AuditFilter:
    """The filter of the read API and the console page: ``actor`` is ``<kind>`` or
    ``<kind>:<id>`` (``key:12``, ``user:3``, ``cli``, ``system``), ``entity`` is ``<type>`` or
    ``<type>:<id>`` (``api_key:5``), ``action`` exact or a prefix ending in ``.``; naive times
    are UTC. Raises :class:`sincro.errors.InvalidInput` naming the bad field."""
    kind, actor_id = _split(actor)
    if kind is not None and kind not in ActorKind.__members__:
        known = ", ".join(ActorKind.__members__)
        raise InvalidInput(f"actor kind must be one of {known}", field="actor")
    entity_type, entity_id = _split(entity)
    since, until = _utc(since), _utc(until)
    if since is not None and until is not None and until <= since:
        raise InvalidInput("until must be after since", field="until")
    return AuditFilter(
        actor_kind=ActorKind(kind) if kind else None,
        actor_id=actor_id,
        action=(action or "").strip() or None,
        entity_type=entity_type,
        entity_id=entity_id,
        since=since,
        until=until,
    )


def _split(value: str | None) -> tuple[str | None, str | None]:
    head, _, tail = (value or "").strip().partition(":")
    return head.strip() or None, tail.strip() or None


def _utc(moment: dt.datetime | None) -> dt.datetime | None:
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=dt.UTC)


def read(
    session: Session, filters: AuditFilter | None = None, offset: int = 0, limit: int = 50
) -> tuple[Sequence[AuditEntry], int]:
    """Entries matching ``filters``, newest first, and how many match in all."""
    f = filters or AuditFilter()
    A = AuditEntry
    query = select(A)
    if f.actor_kind is not None:
        query = query.where(A.actor_kind == f.actor_kind.value)
    if f.actor_id is not None:
        query = query.where(A.actor_id == f.actor_id)
    if f.action is not None:
        if f.action.endswith("."):
            query = query.where(A.action.startswith(f.action, autoescape=True))
        else:
            query = query.where(A.action == f.action)
    if f.entity_type is not None:
        query = query.where(A.entity_type == f.entity_type)
    if f.entity_id is not None:
        query = query.where(A.entity_id == f.entity_id)
    if f.since is not None:
        query = query.where(A.at >= f.since)
    if f.until is not None:
        query = query.where(A.at < f.until)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(query.order_by(A.id.desc()).offset(offset).limit(limit)).all()
    return rows, total
