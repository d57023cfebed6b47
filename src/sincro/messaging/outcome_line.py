"""The e-mail worker's ``sent`` outcomes on PostgreSQL, written without waiting for them.

A committed outcome waits for its WAL flush (~4 ms on a slow disk), and the worker used to
wait for it before preparing the next message. Here the outcome's ``UPDATE`` is handed to the
server (:meth:`OutcomeLine.send_sent`) and the worker goes on rendering the next message and
sending its envelope and body; the reply is collected (:meth:`OutcomeLine.collect`) *before the
next message's final dot*, as ``Mailer.send``'s ``before_dot``. So when a message can have been
delivered, the outcome of the one before it is committed: a worker killed at any moment leaves
at most one delivered message without its outcome, the lowest ``sending`` row of its claim,
which the reaper marks in doubt (docs/architecture.md, "Exactly-once effect").

Raw libpq on the chunk's own autocommit connection (psycopg's ``pgconn``): one
``PQsendQueryPrepared`` (bind, execute and sync: a single-statement implicit transaction that
the server commits when it runs it, whether or not the client is still there to read the
reply), flushed at once; ``PQgetResult`` later. The statement is prepared once per connection
(:data:`STATEMENT`); if the server no longer has it, nothing ran, and it is prepared and run
again at once. Nothing else may use the connection while an
outcome is in flight: every other use of it calls :meth:`collect` first, and a line that could
not be collected (:attr:`OutcomeLine.clean` false) has its connection discarded.
"""

from __future__ import annotations

import datetime as dt
import logging
import select
import weakref
from typing import Any

import psycopg
from psycopg import pq
from sqlalchemy import Connection

from sincro.messaging import repository as repo

log = logging.getLogger("sincro.messaging.sender")


# the outcome as a named prepared statement: prepared once per connection (an unnamed one
# is parsed and planned by the server on every message, ~0.15 ms of its CPU)
STATEMENT = b"sincro_outcome_sent"
_PREPARED: weakref.WeakKeyDictionary[Any, bool] = weakref.WeakKeyDictionary()
NO_SUCH_STATEMENT = "26000"  # gone (DEALLOCATE ALL after a rollback, a new session): again
ALREADY_PREPARED = "42P05"


class OutcomeLine:
    """At most one ``sent`` outcome in flight on one PostgreSQL connection."""

    def __init__(self, conn: Connection, wait_seconds: float) -> None:
        dbapi: Any = conn.connection.dbapi_connection  # psycopg's connection
        self._dbapi = dbapi
        self._pg: pq.abc.PGconn = dbapi.pgconn
        self._encoding: str = dbapi.info.encoding
        self._wait = wait_seconds  # no reply within this: the connection is given up
        self._in_flight: int | None = None  # the ledger row whose outcome is on the line
        self._params: list[bytes | None] = []  # its parameters (sent again if unprepared)
        self.clean = True  # false: a reply was not read in full, the connection is unusable
        # the campaign's state as the latest collected outcome saw it (None: none since the
        # caller last took it): the worker's periodic state check, without a round trip
        self.state: str | None = None

    @property
    def in_flight(self) -> int | None:
        return self._in_flight

    def send_sent(
        self,
        entry_id: int,
        token: str,
        *,
        sent_at: dt.datetime,
        message_id: str,
        last_code: int | None,
    ) -> None:
        """Hand ``entry_id``'s ``sent`` outcome to the server; its reply is read by
        :meth:`collect` (the previous one is collected first)."""
        self.collect()
        naive_utc = sent_at.astimezone(dt.UTC).replace(tzinfo=None)
        self._params = [
            naive_utc.isoformat(" ").encode(),
            message_id.encode(self._encoding),
            None if last_code is None else str(last_code).encode(),
            str(entry_id).encode(),
            token.encode(self._encoding),
        ]
        if not _PREPARED.get(self._dbapi):
            self._prepare()
        self._send()
        self._in_flight = entry_id

    def collect(self) -> None:
        """Wait for the outcome in flight, if any, to be committed (idempotent). Raises the
        server's error, or :class:`psycopg.OperationalError` when no reply came in time."""
        entry_id = self._in_flight
        if entry_id is None:
            return
        results = self._results()
        self._in_flight = None
        if _error(results) == NO_SUCH_STATEMENT:  # nothing ran: prepare, and run it now
            _PREPARED.pop(self._dbapi, None)
            self._prepare()
            self._send()
            results = self._results()
        self._raise_for(results)
        if results and results[-1].ntuples:
            value = results[-1].get_value(0, 0)
            self.state = None if value is None else bytes(value).decode()
        else:  # the claim is gone (the reaper took the row back): it goes again, in doubt
            log.warning("the outcome of ledger row %d found its claim gone", entry_id)

    def settle(self) -> bool:
        """After a failure elsewhere: collect what is in flight; False when the connection
        must be discarded instead of going back to the pool."""
        try:
            self.collect()
        except Exception:
            log.warning("an outcome in flight could not be collected", exc_info=True)
            return False
        return self.clean

    def _prepare(self) -> None:
        """Prepare the statement on this connection (one blocking round trip)."""
        self.clean = False
        self._pg.send_prepare(STATEMENT, repo.FINISH_SENT_SQL)
        self._flush()
        results = self._results()
        if _error(results) != ALREADY_PREPARED:
            self._raise_for(results)
        _PREPARED[self._dbapi] = True

    def _send(self) -> None:
        self.clean = False  # until the reply is read
        self._pg.send_query_prepared(STATEMENT, self._params)
        self._flush()

    def _flush(self) -> None:
        while self._pg.flush():  # 1: output still buffered (the socket is non-blocking)
            self._ready(write=True)

    def _results(self) -> list[pq.abc.PGresult]:
        """Every result of the command sent (the connection is then idle, and clean)."""
        pg = self._pg
        results: list[pq.abc.PGresult] = []
        while True:
            while pg.is_busy():
                self._ready(write=False)
                pg.consume_input()
            result = pg.get_result()
            if result is None:
                break
            results.append(result)
        self.clean = True
        return results

    def _raise_for(self, results: list[pq.abc.PGresult]) -> None:
        for result in results:
            if result.status == pq.ExecStatus.FATAL_ERROR:
                raise psycopg.errors.error_from_result(result, encoding=self._encoding)

    def _ready(self, *, write: bool) -> None:
        poller = select.poll()
        poller.register(self._pg.socket, select.POLLOUT if write else select.POLLIN)
        if not poller.poll(self._wait * 1000):
            raise psycopg.OperationalError(
                f"no reply from the database within {self._wait:.0f} s to an outcome"
            )


def _error(results: list[pq.abc.PGresult]) -> str | None:
    """The SQLSTATE of the first failed result, if any."""
    for result in results:
        if result.status == pq.ExecStatus.FATAL_ERROR:
            state = result.error_field(pq.DiagnosticField.SQLSTATE)
            return (state or b"").decode()
    return None
