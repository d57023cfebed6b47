"""The rule that keeps exactly-once while a worker's outcomes commit in the background
(``messaging/outcome_line.py``): the previous message's outcome is committed before the next
message's final dot. The sink looks at the database at the moment each message's end of data
arrives; the outcome ``UPDATE`` is made slow (a trigger sleeping 0.2 s), so a worker that did
not wait for it before the dot would be caught."""

from __future__ import annotations

import datetime as dt
import itertools
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest
from sqlalchemy import func, select

from sincro.config import Settings
from sincro.db import Database, utcnow
from sincro.mail import Undelivered
from sincro.mailbox.sink import running
from sincro.messaging import orchestrator, repository as repo, service
from sincro.messaging.models import LedgerEntry
from sincro.messaging.outcome_line import OutcomeLine
from sincro.messaging.schemas import CampaignIn
from sincro.messaging.sender import reap
from sincro.messaging.service import RUNNING
from tests.messaging import support
from tests.messaging.support import Dispatched, drain, sender_for
from tests.smtp_sink import SmtpSink

ROW = re.compile(rb"^Message-ID: <m\.\d+\.(\d+)\.", re.MULTILINE | re.IGNORECASE)
SLOW_OUTCOME = """
CREATE FUNCTION slow_outcome() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN PERFORM pg_sleep(0.2); RETURN NEW; END $$;
CREATE TRIGGER slow_outcome BEFORE UPDATE ON send_ledger FOR EACH ROW
WHEN (NEW.status = 'sent' AND OLD.status = 'sending') EXECUTE FUNCTION slow_outcome();
"""

FAILING_OUTCOME = """
CREATE FUNCTION failing_outcome() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'disco cheio'; END $$;
CREATE TRIGGER failing_outcome BEFORE UPDATE ON send_ledger FOR EACH ROW
WHEN (NEW.status = 'sent' AND NEW.id = {row}) EXECUTE FUNCTION failing_outcome();
"""


class WatchingSink(SmtpSink):
    """Records, as each message's end of data arrives, which ledger rows are ``sent``."""

    watch: psycopg.Connection[Any] | None = None
    seen: list[tuple[int, set[int]]]  # (row of this message, rows sent at its final dot)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        found = ROW.search(bytes(envelope.content))
        assert found is not None and self.watch is not None
        sent = self.watch.execute("SELECT id FROM send_ledger WHERE status = 'sent'").fetchall()
        self.seen.append((int(found.group(1)), {int(i) for (i,) in sent}))
        return await super().handle_DATA(server, session, envelope)


@pytest.fixture
def watching_sink(settings: Settings) -> Iterator[WatchingSink]:
    from sincro.db import postgres_url

    url = postgres_url(settings.database_url).replace("postgresql+psycopg", "postgresql")
    with psycopg.connect(url, autocommit=True) as watch:
        sink = WatchingSink(port=0)
        sink.seen, sink.watch = [], watch
        with running(sink, port=0) as port:
            sink.port = port
            yield sink


@contextmanager
def trigger(db: Database, name: str, create: str) -> Iterator[None]:
    """The ledger trigger ``name`` (and its function) while the block runs: the database
    outlives the test (wiped, not dropped)."""
    with db.write() as s:
        s.connection().exec_driver_sql(create)
    try:
        yield
    finally:
        with db.write() as s:
            s.connection().exec_driver_sql(
                f"DROP TRIGGER {name} ON send_ledger; DROP FUNCTION {name}()"
            )


def started(
    db: Database, settings: Settings, port: int, dispatched: Dispatched, recipients: int
) -> Settings:
    """A running campaign to ``recipients`` customers, its batches in ``dispatched``; the
    settings to send it with (claims of 6 rows)."""
    support.add_customers(db, recipients, purposes=("marketing",))
    template = support.make_template(db)
    config = support.messaging_settings(settings, port, messaging_claim_size=6)
    with db.write() as s:
        body = CampaignIn(name="ordem", template_id=template)
        campaign = service.create_campaign(s, body, support.ACTOR, config).id
        service.transition(s, campaign, "start", support.ACTOR)
    while dispatched.orchestrations:
        orchestrator.orchestrate(db, config, dispatched.orchestrations.pop(0))
    return config


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_each_outcome_is_committed_before_the_next_final_dot(
    db: Database, settings: Settings, watching_sink: WatchingSink, dispatched: Dispatched
) -> None:
    config = started(db, settings, watching_sink.port, dispatched, 12)
    with trigger(db, "slow_outcome", SLOW_OUTCOME), sender_for(db, config) as sender:
        drain(sender, dispatched)
    seen = watching_sink.seen
    assert len(seen) == 12 and len({row for row, _ in seen}) == 12
    for (previous, _), (row, sent) in itertools.pairwise(seen):
        assert previous in sent, f"row {row}'s final dot came before row {previous}'s outcome"
    with db.read() as s:
        assert s.scalar(select(func.count()).where(LedgerEntry.status == "sent")) == 12


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_an_outcome_that_cannot_be_written_holds_the_next_message_back(
    db: Database, settings: Settings, sink: SmtpSink, dispatched: Dispatched
) -> None:
    """The third row's outcome fails in the database: the fourth message never gets its final
    dot, so the third is the only delivered row without an outcome, and the reaper marks it,
    alone, in doubt."""
    config = started(db, settings, sink.port, dispatched, 6)
    with db.read() as s:
        rows = sorted(e.id for e in s.scalars(select(LedgerEntry)))
    with (
        trigger(db, "failing_outcome", FAILING_OUTCOME.format(row=rows[2])),
        sender_for(db, config) as sender,
        pytest.raises(Undelivered),
    ):
        drain(sender, dispatched)
    assert [m["To"] for m in sink.messages] == [f"cli{i}@exemplo.com.br" for i in (1, 2, 3)]
    with db.read() as s:
        status = {e.id: e.status for e in s.scalars(select(LedgerEntry))}
    assert [status[r] for r in rows] == ["sent", "sent"] + ["sending"] * 4
    reap(db, config, now=utcnow() + dt.timedelta(seconds=config.messaging_lease_seconds + 1))
    with db.read() as s:
        doubtful = [e.id for e in s.scalars(select(LedgerEntry).where(LedgerEntry.in_doubt))]
    assert doubtful == [rows[2]]


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_the_outcome_statement_is_prepared_again_when_the_server_lost_it(
    db: Database, settings: Settings, sink: SmtpSink, dispatched: Dispatched
) -> None:
    started(db, settings, sink.port, dispatched, 3)
    with db.write() as s:
        ids = [e.id for e in s.scalars(select(LedgerEntry))]
        rows = repo.claim(s, ids, token="t", now=utcnow(), running=RUNNING)
    with db.write_engine.connect() as plain:
        conn = plain.execution_options(isolation_level="AUTOCOMMIT")
        line = OutcomeLine(conn, wait_seconds=5)
        for n, row in enumerate(rows):
            if n == 1:  # as psycopg does after a rollback on a connection it prepared on
                conn.exec_driver_sql("DEALLOCATE ALL")
            line.send_sent(row.id, "t", sent_at=utcnow(), message_id=f"<m{n}@x>", last_code=250)
            assert line.in_flight == row.id
            line.collect()
            assert line.state == "running" and line.in_flight is None and line.clean
    with db.read() as s:
        written = {e.id: (e.status, e.message_id) for e in s.scalars(select(LedgerEntry))}
    assert written == {row.id: ("sent", f"<m{n}@x>") for n, row in enumerate(rows)}
