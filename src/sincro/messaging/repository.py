"""All SQL of messaging: templates, campaigns and the send ledger.

The ledger's state changes are single conditional statements, so two workers (or a worker and
the reaper) can never both own a row: a claim moves ``pending`` rows to ``sending`` under a
fresh claim token (PostgreSQL: ``FOR UPDATE SKIP LOCKED`` in the sub-select, so concurrent
claimers take disjoint rows without waiting; SQLite: one writer at a time), and a result is
written only ``WHERE claimed_by = <that token>``."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    CursorResult,
    Row,
    Select,
    and_,
    bindparam,
    case,
    cast,
    func,
    literal,
    null,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from sincro.messaging.models import Campaign, LedgerEntry, MessageTemplate, TemplateVersion

L = LedgerEntry


# --- templates ------------------------------------------------------------------------------


def template(session: Session, template_id: int) -> MessageTemplate | None:
    return session.get(MessageTemplate, template_id)


def template_by_key(session: Session, key: str) -> MessageTemplate | None:
    return session.scalar(select(MessageTemplate).where(MessageTemplate.key == key))


def templates(session: Session, offset: int, limit: int) -> tuple[list[MessageTemplate], int]:
    rows = session.scalars(
        select(MessageTemplate)
        .order_by(MessageTemplate.name, MessageTemplate.id)
        .offset(offset)
        .limit(limit)
    )
    total = session.scalar(select(func.count()).select_from(MessageTemplate)) or 0
    return list(rows), int(total)


def version(session: Session, template_id: int, number: int) -> TemplateVersion | None:
    return session.scalar(
        select(TemplateVersion).where(
            TemplateVersion.template_id == template_id, TemplateVersion.version == number
        )
    )


def version_by_id(session: Session, version_id: int) -> TemplateVersion | None:
    return session.get(TemplateVersion, version_id)


def versions_by_id(session: Session | Connection, ids: Iterable[int]) -> dict[int, TemplateVersion]:
    """The versions asked for, detached (versions never change: a worker keeps them)."""
    wanted = set(ids)
    if not wanted:
        return {}
    table: Any = TemplateVersion.__table__
    rows = session.execute(select(table).where(table.c.id.in_(wanted)))
    return {int(r.id): TemplateVersion(**r._mapping) for r in rows}


def version_numbers(session: Session, template_id: int) -> list[int]:
    return list(
        session.scalars(
            select(TemplateVersion.version)
            .where(TemplateVersion.template_id == template_id)
            .order_by(TemplateVersion.version)
        )
    )


# --- campaigns ------------------------------------------------------------------------------


def campaign(session: Session, campaign_id: int, *, lock: bool = False) -> Campaign | None:
    query = select(Campaign).where(Campaign.id == campaign_id)
    if lock:
        query = query.with_for_update()
    return session.scalar(query)


def transactional_campaign(session: Session) -> Campaign | None:
    return session.scalar(
        select(Campaign).where(Campaign.kind == "transactional").order_by(Campaign.id).limit(1)
    )


def campaigns(
    session: Session, offset: int, limit: int, state: str | None = None
) -> tuple[list[Campaign], int]:
    query = select(Campaign).where(Campaign.kind == "campaign")
    if state:
        query = query.where(Campaign.state == state)
    rows = session.scalars(query.order_by(Campaign.id.desc()).offset(offset).limit(limit))
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    return list(rows), int(total)


def campaigns_in(session: Session, states: Sequence[str]) -> list[Campaign]:
    return list(
        session.scalars(
            select(Campaign).where(Campaign.state.in_(states), Campaign.kind == "campaign")
        )
    )


def sending_campaign(
    session: Session | Connection, campaign_id: int
) -> Row[int, str, str, str | None, float] | None:
    """What a worker needs of a campaign to send its rows (``id``, ``name``, ``sender``,
    ``reply_to``, ``rate_per_second``): set when the campaign is created and never changed
    (:func:`sincro.messaging.service.create_campaign`), so a worker keeps it."""
    return session.execute(
        select(
            Campaign.id, Campaign.name, Campaign.sender, Campaign.reply_to, Campaign.rate_per_second
        ).where(Campaign.id == campaign_id)
    ).first()


def campaign_states(session: Session | Connection, ids: Iterable[int]) -> dict[int, str]:
    wanted = set(ids)
    if not wanted:
        return {}
    rows = session.execute(select(Campaign.id, Campaign.state).where(Campaign.id.in_(wanted)))
    return {int(i): str(s) for i, s in rows}


def status_counts(session: Session, campaign_id: int) -> dict[str, int]:
    rows = session.execute(
        select(L.status, func.count()).where(L.campaign_id == campaign_id).group_by(L.status)
    )
    return {status: int(n) for status, n in rows}


def flag_counts(session: Session, campaign_id: int) -> tuple[int, int]:
    """(rows unsubscribed through this campaign's link, rows in doubt)."""
    row = session.execute(
        select(
            func.count(L.unsubscribed_at),
            func.coalesce(func.sum(case((L.in_doubt, 1), else_=0)), 0),
        ).where(L.campaign_id == campaign_id)
    ).one()
    return int(row[0]), int(row[1])


def sent_since(session: Session, campaign_id: int, since: dt.datetime) -> int:
    return int(
        session.scalar(
            select(func.count()).where(
                L.campaign_id == campaign_id, L.status.in_(("sent", "bounced")), L.sent_at >= since
            )
        )
        or 0
    )


def first_last_sent(
    session: Session, campaign_id: int
) -> tuple[dt.datetime | None, dt.datetime | None]:
    row = session.execute(
        select(func.min(L.sent_at), func.max(L.sent_at)).where(L.campaign_id == campaign_id)
    ).one()
    from sincro.db import UTCDateTime

    convert = UTCDateTime().process_result_value
    dialect = session.get_bind().dialect
    return convert(row[0], dialect), convert(row[1], dialect)


def per_minute(session: Session, campaign_id: int) -> list[tuple[str, int, int]]:
    """(minute as ``YYYY-MM-DD HH:MM`` UTC, sent, failed) for every minute with an outcome:
    sent by ``sent_at``, failed by the time of their last claim."""
    postgres = session.get_bind().dialect.name == "postgresql"

    def minute(column: Any) -> Any:
        if postgres:
            return func.to_char(column, "YYYY-MM-DD HH24:MI")
        return func.strftime("%Y-%m-%d %H:%M", column)

    sent = session.execute(
        select(minute(L.sent_at).label("m"), func.count())
        .where(L.campaign_id == campaign_id, L.sent_at.is_not(None))
        .group_by("m")
    )
    failed = session.execute(
        select(minute(L.claimed_at).label("m"), func.count())
        .where(L.campaign_id == campaign_id, L.status == "failed", L.claimed_at.is_not(None))
        .group_by("m")
    )
    table: dict[str, list[int]] = {}
    for key, n in sent:
        table.setdefault(key, [0, 0])[0] = int(n)
    for key, n in failed:
        table.setdefault(key, [0, 0])[1] = int(n)
    return [(k, v[0], v[1]) for k, v in sorted(table.items())]


# --- the ledger -----------------------------------------------------------------------------


def _insert(session: Session) -> Any:
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


def add_entries(session: Session, rows: Sequence[dict[str, Any]]) -> list[int]:
    """Insert ledger rows, skipping those whose (campaign, dedupe key) exists; the new ids.

    PostgreSQL, several rows of plain columns (a page of a campaign's audience): ONE statement
    with an array per column (``INSERT … SELECT unnest(…), …``). A multi-row ``VALUES`` with
    17,000 placeholders costed ~0.5 s of client CPU per 1,000 rows (psycopg converts such a long
    query text on every execution, uncached), most of a campaign's planning time."""
    if not rows:
        return []
    columns = list(rows[0])
    if (
        len(rows) > 1
        and session.get_bind().dialect.name == "postgresql"
        and not _JSON_COLUMNS.intersection(columns)
        and all(len(row) == len(columns) for row in rows)
    ):
        arrays = {name: [row[name] for row in rows] for name in columns}
        result = session.execute(_unnest_insert(tuple(columns)), arrays)
    else:
        statement = _insert(session)(LedgerEntry).on_conflict_do_nothing(
            index_elements=["campaign_id", "dedupe_key"]
        )
        result = session.execute(statement.returning(L.id), list(rows))
    return sorted(int(i) for i in result.scalars())


_JSON_COLUMNS = frozenset({"context", "attachments"})  # transactional rows: one at a time


@lru_cache(maxsize=8)
def _unnest_insert(columns: tuple[str, ...]) -> Any:
    """PostgreSQL's ``INSERT INTO send_ledger (…) SELECT unnest(CAST(:c AS type[])), …``: the
    arrays zip row by row (set-returning functions of one select list run in lockstep)."""
    table: Any = LedgerEntry.__table__  # Core, not the ORM's bulk insert of a parameter list
    values = [
        func.unnest(cast(bindparam(name), postgresql.ARRAY(table.c[name].type))) for name in columns
    ]
    return (
        postgresql.insert(table)
        .from_select(columns, select(*values))
        .on_conflict_do_nothing(index_elements=["campaign_id", "dedupe_key"])
        .returning(table.c.id)
    )


def entry(session: Session, entry_id: int) -> LedgerEntry | None:
    return session.get(LedgerEntry, entry_id)


def entry_by_dedupe(session: Session, campaign_id: int, key: str) -> LedgerEntry | None:
    return session.scalar(select(L).where(L.campaign_id == campaign_id, L.dedupe_key == key))


def mark_enqueued(session: Session, ids: Sequence[int], now: dt.datetime) -> None:
    if ids:
        session.execute(update(L).where(L.id.in_(list(ids))).values(enqueued_at=now))


def withheld_reason(
    consents: ColumnElement[bool], suppressed: ColumnElement[bool]
) -> ColumnElement[Any]:
    """SQL over a ledger row: why it must not be sent now (NULL: it may go), given whether its
    recipient consents to e-mail for the row's purpose and whether its address is suppressed
    for it (clauses over the row, from ``customers.service``)."""
    return case(
        (~consents, literal("consent to e-mail/") + L.purpose + literal(" withdrawn")),
        (suppressed, literal("address on the suppression list")),
        else_=null(),
    )


def claim(
    session: Session | Connection,
    ids: Sequence[int],
    *,
    token: str,
    now: dt.datetime,
    running: Sequence[str],
    withheld: ColumnElement[Any] | None = None,
) -> list[LedgerEntry]:
    """Move those of ``ids`` that are pending, due, and whose campaign is in a ``running``
    state to ``sending`` under ``token``; the claimed rows in id order, detached.

    With ``withheld`` (:func:`withheld_reason`), a row it gives a reason for is claimed
    straight into ``suppressed`` with that reason as its ``last_error``, in the same statement:
    consent and the suppression list are read when the row is taken, not before, so a
    withdrawal or a suppression recorded since planning stops the message, at no round trip of
    its own. One statement, so on PostgreSQL it may run on an autocommit connection.

    The rows are found by primary key only, whatever the statistics say: the status test is
    written so that no index can serve it (``coalesce``) and the campaign's state is read per
    row (a correlated sub-select, not a join). Written plainly, PostgreSQL with statistics
    taken before the campaign's rows existed (a fresh ledger, or a new campaign among old
    ones) estimated ~1 row for (campaign, pending) and walked ``ix_send_ledger_campaign_status``
    through every pending row of the campaign to find the 20 asked for: 3-4 ms a claim on
    20,000 rows, growing with the campaign (tests/messaging/test_claim.py)."""
    campaign_state = select(Campaign.state).where(Campaign.id == L.campaign_id).scalar_subquery()
    candidates = (
        select(L.id)
        .where(
            L.id.in_(list(ids)),
            func.coalesce(L.status, "") == "pending",
            or_(L.next_attempt_at.is_(None), L.next_attempt_at <= now),
            campaign_state.in_(list(running)),
        )
        .order_by(L.id)
    )
    dialect = session.dialect if isinstance(session, Connection) else session.get_bind().dialect
    if dialect.name == "postgresql":
        candidates = candidates.with_for_update(skip_locked=True)
    values: dict[str, Any] = {
        "status": "sending",
        "claimed_by": token,
        "claimed_at": now,
        "attempts": L.attempts + 1,
        "enqueued_at": None,
    }
    if withheld is not None:
        values["status"] = case((withheld.is_(None), literal("sending")), else_="suppressed")
        values["last_error"] = func.coalesce(withheld, L.last_error)
    table: Any = LedgerEntry.__table__  # Core: the rows as plain values, on either executor
    claimed = session.execute(  # the rows as updated, in one round trip
        update(table)
        .where(table.c.id.in_(candidates.scalar_subquery()))
        .values(**values)
        .returning(*table.c)
    )
    return sorted((LedgerEntry(**row._mapping) for row in claimed), key=lambda row: row.id)


def finish(session: Session | Connection, entry_id: int, token: str, **values: Any) -> bool:
    """Write a claimed row's outcome, only while ``token`` still owns it."""
    result: CursorResult[Any] = session.execute(  # type: ignore[assignment]
        update(L)
        .where(L.id == entry_id, L.claimed_by == token, L.status == "sending")
        .values(**values)
    )
    return result.rowcount == 1


# The outcome of almost every row, built once: a statement built per call costs ~0.5 ms of
# SQLAlchemy work (cache key, lookup) a message, about the UPDATE's own client cost again.
_FINISH_SENT = (
    update(L)
    .where(L.id == bindparam("entry"), L.claimed_by == bindparam("token"), L.status == "sending")
    .values(
        status="sent",
        sent_at=bindparam("at"),
        message_id=bindparam("mid"),
        last_code=bindparam("code"),
        last_error=None,
    )
)


# The same outcome as PostgreSQL text, for the worker's outcome line (``outcome_line.py``:
# sent without waiting, raw libpq parameters $1 sent_at as naive UTC, $2 Message-ID, $3 reply
# code, $4 row, $5 claim token); it returns the campaign's state, the worker's state check.
FINISH_SENT_SQL = (
    b"UPDATE send_ledger SET status = 'sent', sent_at = $1, message_id = $2, last_code = $3,"
    b" last_error = NULL WHERE id = $4 AND claimed_by = $5 AND status = 'sending'"
    b" RETURNING (SELECT state FROM campaigns WHERE campaigns.id = send_ledger.campaign_id)"
)


def finish_sent(
    conn: Session | Connection,
    entry_id: int,
    token: str,
    *,
    sent_at: dt.datetime,
    message_id: str,
    last_code: int | None,
) -> bool:
    """:func:`finish` with status ``sent`` (the hot path's one statement)."""
    params = {"entry": entry_id, "token": token, "at": sent_at, "mid": message_id}
    result: CursorResult[Any] = conn.execute(  # type: ignore[assignment]
        _FINISH_SENT, params | {"code": last_code}
    )
    return result.rowcount == 1


def release(session: Session | Connection, ids: Sequence[int], token: str, **values: Any) -> int:
    """Give claimed rows back (pending) without counting the attempt."""
    if not ids:
        return 0
    result: CursorResult[Any] = session.execute(  # type: ignore[assignment]
        update(L)
        .where(L.id.in_(list(ids)), L.claimed_by == token, L.status == "sending")
        .values(status="pending", attempts=L.attempts - 1, **values)
    )
    return int(result.rowcount or 0)


def stale_claims(session: Session, before: dt.datetime) -> list[tuple[int, str]]:
    """(id, claim token) of rows in ``sending`` claimed before ``before``."""
    return [
        (int(i), str(t))
        for i, t in session.execute(
            select(L.id, L.claimed_by).where(L.status == "sending", L.claimed_at < before)
        )
    ]


def reap(session: Session, ids: Sequence[int], doubtful: Sequence[int], now: dt.datetime) -> None:
    if not ids:
        return
    session.execute(
        update(L)
        .where(L.id.in_(list(ids)), L.status == "sending")
        .values(
            status="pending",
            next_attempt_at=now,
            enqueued_at=None,
            in_doubt=case((L.id.in_(list(doubtful) or [-1]), literal(True)), else_=L.in_doubt),
        )
    )


def due(
    session: Session, now: dt.datetime, stale_before: dt.datetime, limit: int
) -> list[tuple[int, int]]:
    """(campaign id, row id) of pending rows to enqueue: a retry or deferral that is due, or
    a row enqueued long ago whose broker message may have been lost."""
    rows = session.execute(_due(now, stale_before).order_by(L.id).limit(limit))
    return [(int(c), int(i)) for c, i in rows]


def _due(now: dt.datetime, stale_before: dt.datetime) -> Select[int, int]:
    return (
        select(L.campaign_id, L.id)
        .join(Campaign, Campaign.id == L.campaign_id)
        .where(
            L.status == "pending",
            Campaign.state == "running",
            or_(
                and_(L.next_attempt_at.is_not(None), L.next_attempt_at <= now),
                and_(
                    L.next_attempt_at.is_(None),
                    or_(L.enqueued_at.is_(None), L.enqueued_at < stale_before),
                ),
            ),
        )
    )


def tick_has_work(
    session: Session, now: dt.datetime, stale_before: dt.datetime, lease_before: dt.datetime
) -> bool:
    """One query: a campaign running or due to start, a pending row due (:func:`due`), or a
    claim older than ``lease_before`` (:func:`stale_claims`)."""
    starting = and_(
        Campaign.state == "scheduled", or_(Campaign.start_at.is_(None), Campaign.start_at <= now)
    )
    campaigns = select(Campaign.id).where(
        Campaign.kind == "campaign", or_(Campaign.state == "running", starting)
    )
    claims = select(L.id).where(L.status == "sending", L.claimed_at < lease_before)
    any_work = or_(campaigns.exists(), _due(now, stale_before).exists(), claims.exists())
    return bool(session.scalar(select(any_work)))


def pending_ids(session: Session, campaign_id: int, after_id: int, limit: int) -> list[int]:
    return list(
        session.scalars(
            select(L.id)
            .where(L.campaign_id == campaign_id, L.status == "pending", L.id > after_id)
            .order_by(L.id)
            .limit(limit)
        )
    )


def clear_schedule(session: Session, ids: Sequence[int], now: dt.datetime) -> None:
    if ids:
        session.execute(
            update(L)
            .where(L.id.in_(list(ids)), L.status == "pending")
            .values(next_attempt_at=None, enqueued_at=now)
        )


def set_status(session: Session, campaign_id: int, old: Sequence[str], **values: Any) -> int:
    result: CursorResult[Any] = session.execute(  # type: ignore[assignment]
        update(L).where(L.campaign_id == campaign_id, L.status.in_(list(old))).values(**values)
    )
    return int(result.rowcount or 0)


def unfinished(session: Session, campaign_id: int) -> int:
    return int(
        session.scalar(
            select(func.count()).where(
                L.campaign_id == campaign_id, L.status.in_(("pending", "sending"))
            )
        )
        or 0
    )


def mark_unsubscribed(
    session: Session, campaign_id: int, customer_id: int, now: dt.datetime
) -> None:
    session.execute(
        update(L)
        .where(
            L.campaign_id == campaign_id,
            L.customer_id == customer_id,
            L.unsubscribed_at.is_(None),
        )
        .values(unsubscribed_at=now)
    )


def mark_bounced(
    session: Session, entry_id: int, now: dt.datetime, detail: str
) -> LedgerEntry | None:
    """The row, now bounced; None when there is no such row or it was not sent."""
    row = session.get(LedgerEntry, entry_id)
    if row is None or row.status not in ("sent", "sending", "failed"):
        return None
    row.status, row.bounced_at, row.last_error = "bounced", now, detail[:500]
    return row


def entries_of_customer(session: Session, customer_id: int) -> list[LedgerEntry]:
    return list(session.scalars(select(L).where(L.customer_id == customer_id).order_by(L.id)))


def anonymize_customer(session: Session, customer_id: int) -> int:
    result: CursorResult[Any] = session.execute(  # type: ignore[assignment]
        update(L)
        .where(L.customer_id == customer_id)
        .values(email="", name="", city=None, plan=None, context=None, attachments=None)
    )
    return int(result.rowcount or 0)


def campaign_names(session: Session, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    rows = session.execute(select(Campaign.id, Campaign.name).where(Campaign.id.in_(ids)))
    return {int(i): str(n) for i, n in rows}


def ledger_status(session: Session, customer_id: int, dedupe_key: str) -> str | None:
    return session.scalar(
        select(LedgerEntry.status).where(
            LedgerEntry.customer_id == customer_id, LedgerEntry.dedupe_key == dedupe_key
        )
    )
