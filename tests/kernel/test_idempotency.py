"""The idempotent-request runner on a real database (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from sincro.db import Database
from sincro.errors import SincroError
from sincro.idempotency import IdempotencyKeyReused, IdempotencyRecord, run_idempotent


class Work:
    """Counts its runs; can be slow (to overlap twins) or fail."""

    def __init__(self, delay: float = 0.0, fail: bool = False) -> None:
        self.runs = 0
        self.delay, self.fail = delay, fail
        self._lock = threading.Lock()

    def __call__(self, session: Session) -> dict[str, Any]:
        with self._lock:
            self.runs += 1
            run = self.runs
        time.sleep(self.delay)
        if self.fail:
            raise SincroError("refused")
        return {"run": run}


def records(db: Database) -> int:
    with db.read() as session:
        return int(session.scalar(select(func.count()).select_from(IdempotencyRecord)) or 0)


def test_a_key_runs_once_and_replays(db: Database) -> None:
    work = Work()
    first = run_idempotent(db.write_retrying, "things:1", "k1", {"a": 1}, work, status=201)
    again = run_idempotent(db.write_retrying, "things:1", "k1", {"a": 1}, work, 201).response()
    assert (first.status_code, first.body, first.replayed) == (201, {"run": 1}, False)
    assert again.status_code == 201 and again.body == b'{"run":1}'
    assert again.headers["Idempotent-Replayed"] == "true" and work.runs == 1
    other_scope = run_idempotent(db.write_retrying, "things:2", "k1", {"a": 1}, work)
    assert other_scope.body == {"run": 2} and not other_scope.replayed


def test_the_same_key_with_another_body_is_refused(db: Database) -> None:
    run_idempotent(db.write_retrying, "s", "k", {"a": 1}, Work())
    with pytest.raises(IdempotencyKeyReused) as caught:
        run_idempotent(db.write_retrying, "s", "k", {"a": 2}, Work())
    assert caught.value.status_code == 422 and caught.value.code == "idempotency_key_reused"


def test_a_failed_request_leaves_no_record_and_its_retry_runs(db: Database) -> None:
    with pytest.raises(SincroError):
        run_idempotent(db.write_retrying, "s", "k", {}, Work(fail=True))
    assert records(db) == 0
    assert run_idempotent(db.write_retrying, "s", "k", {}, Work()).body == {"run": 1}


def test_without_a_key_the_work_runs_every_time(db: Database) -> None:
    work = Work()
    for _ in range(2):
        assert not run_idempotent(db.write_retrying, "s", None, {}, work).replayed
    assert work.runs == 2 and records(db) == 0


def test_concurrent_twins_run_the_work_once(db: Database) -> None:
    work = Work(delay=0.3)
    with ThreadPoolExecutor(2) as pool:
        futures = [
            pool.submit(run_idempotent, db.write_retrying, "s", "twin", {"x": 1}, work)
            for _ in range(2)
        ]
        outcomes = [f.result(timeout=30) for f in futures]
    assert work.runs == 1
    assert [o.body for o in outcomes] == [{"run": 1}, {"run": 1}]
    assert sorted(o.replayed for o in outcomes) == [False, True]
