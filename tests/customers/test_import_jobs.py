"""CSV imports as worker jobs (sincro.customers.jobs), on SQLite and PostgreSQL (the real
workers on SQLite only): a console upload run by a real ``celery worker`` process on the
embedded broker (a second delivery of the same task does nothing), a real worker killed with
SIGKILL inside a batch and the import resumed by another worker, the same crash in a plain
process with every step checked (no duplicate customers, rejects and consent events not
doubled, counts true), two deliveries at once (one runs), a run whose lease was taken over
(it cannot commit), a transient error (left to the retry), and the sweep (sent again,
abandoned, too many attempts)."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.exc import OperationalError

from sincro.access.service import create_user
from sincro.config import Settings
from sincro.customers import importer as importer_module, jobs, repository as repo
from sincro.customers.models import (
    ConsentEvent,
    Customer,
    CustomerImport,
    CustomerImportReject,
    CustomerImportUpload,
)
from sincro.customers.schedule import beat_entries, uploads_stored
from sincro.db import Database, utcnow
from sincro.worker import TRANSIENT_ERRORS, queue_depths
from tests.customers.support import PASSWORD, api_client, cpf, sign_in_as, upload

ROOT = Path(__file__).resolve().parents[2]
LINES = 60  # data lines; batches of 10
BAD_EVERY = 7  # every 7th line has a wrong CPF
REPEATS = {45: 3, 52: 12}  # line → earlier line whose document it repeats (a merge)


def numbered_file() -> tuple[bytes, set[str], list[int]]:
    """The file, the documents it creates, and the line numbers it refuses."""
    rows = ["nome;cpf;uf;consentimento_marketing"]
    documents: set[str] = set()
    refused: list[int] = []
    for n in range(1, LINES + 1):
        line = n + 1  # the header is line 1
        document = cpf(5000 + REPEATS.get(n, n))
        if n % BAD_EVERY == 0:
            refused.append(line)
            document = document[:-1] + str((int(document[-1]) + 1) % 10)
        else:
            documents.add(document)
        rows.append(f"Cliente {n};{document};SP;{'Sim' if n % 2 else 'Não'}")
    return ("\r\n".join(rows) + "\r\n").encode(), documents, refused


def job_settings(settings: Settings, **overrides: Any) -> Settings:
    values = {"customers_import_batch_lines": 10, "customers_import_lease_seconds": 30.0}
    return settings.model_copy(update=values | overrides)


def queued_numbered_file(
    db: Database, settings: Settings
) -> tuple[Settings, int, set[str], list[int]]:
    """The numbered file stored and queued (the task not sent): job settings, import id,
    documents, refused lines."""
    settings = job_settings(settings)
    raw, documents, refused = numbered_file()
    import_id = jobs.submit(
        db, settings, "a.csv", raw, dry_run=False, actor="t", send=lambda _id: None
    )
    return settings, import_id, documents, refused


def expire_lease(db: Database, import_id: int, worker: str) -> None:
    with db.write() as session:
        repo.guarded_update(
            session, import_id, worker, {"lease_until": utcnow() - dt.timedelta(seconds=1)}
        )


def state_of(db: Database, import_id: int) -> CustomerImport:
    with db.read() as session:
        record = repo.get_import(session, import_id)
        assert record is not None
        return record


def upload_kept(db: Database, import_id: int) -> bool:
    with db.read() as session:
        return repo.has_upload(session, import_id)


def assert_applied_once(
    db: Database, import_id: int, documents: set[str], refused: list[int]
) -> None:
    """Every document once, every refused line's rejects once, one consent event per good
    line, and the record's counts true."""
    with db.read() as session:
        per_document = dict(
            session.execute(
                select(Customer.document, func.count()).group_by(Customer.document)
            ).all()
        )
        reject_lines = list(
            session.scalars(
                select(CustomerImportReject.line)
                .where(CustomerImportReject.import_id == import_id)
                .order_by(CustomerImportReject.line)
            )
        )
        events = session.scalar(select(func.count()).select_from(ConsentEvent))
    assert per_document == dict.fromkeys(documents, 1)
    assert reject_lines == refused  # one reject per refused line (the CPF), never two
    assert events == LINES - len(refused)
    record = state_of(db, import_id)
    assert (record.status, record.processed_lines, record.total_lines) == ("done", LINES, LINES)
    assert (record.created, record.rejected) == (len(documents), len(refused))
    assert record.updated == len(REPEATS)  # the repeated documents merged into the first
    assert record.lease_until is None and not upload_kept(db, import_id)


# --- the real path: console → broker → a celery worker process --------------------------------

WORKER = [
    "-m", "celery", "-A", "sincro.worker:celery_app", "worker", "--pool", "solo", "-Q",
    "imports", "--without-gossip", "--without-mingle", "--without-heartbeat", "--loglevel",
    "WARNING",
]  # fmt: skip


def worker_env(settings: Settings, tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": f"{ROOT / 'src'}:{ROOT}",
        "SINCRO_DATABASE_URL": settings.database_url,
        "SINCRO_BROKER_URL": settings.broker_url,
        "SINCRO_VAR_DIR": str(tmp_path),
        "SINCRO_LOG_JSON": "false",
        "SINCRO_HEALTH_HEARTBEAT_SECONDS": "0",
        # at its default nice 10 the worker waits for every busy thread of the test process
        # (minutes on a loaded CI machine); its priority is tested by tests/ops/test_processes
        "SINCRO_WORKER_NICE": "0",
        "SINCRO_CUSTOMERS_IMPORT_BATCH_LINES": str(settings.customers_import_batch_lines),
    }


def wait_until(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.1)


# the Celery path to a worker process, once: the console's upload and the run it queues are
# tested on both databases without a worker (test_console.py, the tests below)
@pytest.mark.one_database
def test_a_console_upload_runs_on_a_real_worker_once(
    db: Database, settings: Settings, tmp_path: Path
) -> None:
    settings = job_settings(settings)
    raw, documents, refused = numbered_file()
    with db.write() as session:
        create_user(session, "admin@sincro.example", "Admin", PASSWORD)
    with api_client(settings) as client:
        sign_in_as(client, "admin@sincro.example")
        started = upload(client, "lote.csv", raw)
        assert started.status_code == 303, started.text
        status_url = started.headers["location"]
        import_id = int(status_url.rsplit("/", 1)[1])
        assert state_of(db, import_id).status == "queued" and upload_kept(db, import_id)
        assert "Na fila" in client.get(status_url).text
        jobs.enqueue(import_id, settings.broker_url)  # a second delivery of the same task
        worker = subprocess.Popen(
            [sys.executable, *WORKER],
            env=worker_env(settings, tmp_path),
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=(tmp_path / "worker.err").open("wb"),  # a file: a pipe nobody reads stalls
        )
        try:
            wait_until(lambda: state_of(db, import_id).status == "done", 240, "the worker")
            wait_until(
                lambda: queue_depths(settings.broker_url, ["imports"])["imports"] == 0,
                60,
                "the second delivery to be taken",
            )
            time.sleep(1.0)  # … and run: it must change nothing
        finally:
            worker.terminate()
            worker.wait(timeout=30)
        page = client.get(status_url).text
    err = (tmp_path / "worker.err").read_bytes()
    assert b"Traceback" not in err, err.decode()
    assert "Concluída" in page
    assert_applied_once(db, import_id, documents, refused)
    assert state_of(db, import_id).attempts == 1  # the second delivery found it finished


KILLED_WORKER = """
import os, signal, sys
from sincro.customers import repository
real, calls = repository.add_import_rejects, [0]

def add_import_rejects(session, rows):
    real(session, rows)
    calls[0] += 1
    if calls[0] == 3:  # batch 3 written, not committed: the worker dies (--pool solo)
        session.flush()
        os.kill(os.getpid(), signal.SIGKILL)

repository.add_import_rejects = add_import_rejects
from celery.__main__ import main
sys.argv = ["celery", *sys.argv[1:]]
main()
"""


# the same path as above on either database; the resume's SQL runs on both just below
@pytest.mark.one_database
def test_a_worker_killed_mid_import_is_resumed_by_another_worker(
    db: Database, settings: Settings, tmp_path: Path
) -> None:
    settings = job_settings(settings, customers_import_lease_seconds=5.0)
    raw, documents, refused = numbered_file()
    import_id = jobs.submit(db, settings, "lote.csv", raw, dry_run=False, actor="t")
    env = worker_env(settings, tmp_path) | {"SINCRO_CUSTOMERS_IMPORT_LEASE_SECONDS": "5"}
    err = (tmp_path / "worker.err").open("wb")
    doomed = subprocess.Popen(
        [sys.executable, "-c", KILLED_WORKER, *WORKER[2:]], env=env, cwd=tmp_path, stderr=err
    )
    survivor: subprocess.Popen[bytes] | None = None
    try:
        # once the doomed worker holds the task, the survivor starts up while it works and
        # dies: nothing sends the task again before the sweep below, so it waits idle
        wait_until(lambda: state_of(db, import_id).status == "running", 240, "the first run")
        survivor = subprocess.Popen([sys.executable, *WORKER], env=env, cwd=tmp_path, stderr=err)
        assert doomed.wait(240) == -9  # killed inside batch 3
        record = state_of(db, import_id)
        assert (record.status, record.processed_lines) == ("running", 20)

        def resumed() -> bool:  # the sweep, as beat runs it, until the survivor finished
            jobs.sweep(db, settings, send=lambda i: jobs.enqueue(i, settings.broker_url))
            return state_of(db, import_id).status == "done"

        wait_until(resumed, 240, "the second worker to resume the import")
    finally:
        for process in (doomed, survivor):
            if process is not None and process.poll() is None:
                process.terminate()
                process.wait(30)
    assert b"Traceback" not in (tmp_path / "worker.err").read_bytes()
    assert_applied_once(db, import_id, documents, refused)
    assert state_of(db, import_id).attempts == 2


# --- a run killed inside a batch's transaction ----------------------------------------------

CRASH = """
import os, signal, sys
from sincro.config import Settings
from sincro.customers import jobs, repository
from sincro.db import Database

url, var, import_id = sys.argv[1], sys.argv[2], int(sys.argv[3])
settings = Settings(database_url=url, var_dir=var, customers_import_batch_lines=10,
                    customers_import_lease_seconds=30, log_json=False)
real, calls = repository.add_import_rejects, [0]

def add_import_rejects(session, rows):
    real(session, rows)
    calls[0] += 1
    if calls[0] == 3:  # batch 3 applied and its rejects written, not committed: die
        session.flush()
        os.kill(os.getpid(), signal.SIGKILL)

repository.add_import_rejects = add_import_rejects
jobs.run_import(Database(url), settings, import_id, worker="doomed:1")
"""


def test_a_run_killed_mid_batch_resumes_after_the_last_committed_batch(
    db: Database, settings: Settings, tmp_path: Path
) -> None:
    settings = job_settings(settings)
    raw, documents, refused = numbered_file()
    sent: list[int] = []
    import_id = jobs.submit(
        db, settings, "lote.csv", raw, dry_run=False, actor="t", send=sent.append
    )
    assert sent == [import_id]
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}:{ROOT}"}
    crash = subprocess.run(
        [sys.executable, "-c", CRASH, settings.database_url, str(tmp_path), str(import_id)],
        env=env,
        capture_output=True,
        timeout=120,
    )
    assert crash.returncode == -9, crash.stderr.decode()
    record = state_of(db, import_id)
    assert (record.status, record.worker, record.processed_lines) == ("running", "doomed:1", 20)
    with db.read() as session:  # batch 3 left nothing: two whole batches, their rejects only
        assert session.scalar(select(func.count()).select_from(Customer)) == 18
        assert session.scalar(select(func.count()).select_from(CustomerImportReject)) == 2
    # the broker's redelivery comes at once: the dead run's lease still holds it
    assert jobs.run_import(db, settings, import_id, worker="w2:1").state == "held"
    assert jobs.sweep(db, settings, send=sent.append).sent == []
    expire_lease(db, import_id, "doomed:1")  # the lease runs out
    swept = jobs.sweep(db, settings, send=sent.append, now=utcnow() + dt.timedelta(minutes=1))
    assert list(swept.sent) == [import_id] and sent == [import_id, import_id]
    assert jobs.run_import(db, settings, import_id, worker="w2:1").state == "done"
    assert_applied_once(db, import_id, documents, refused)
    assert state_of(db, import_id).attempts == 2


# --- never twice at once ---------------------------------------------------------------------


class PausedRun:
    """A run in a thread that stops after its first batch until released."""

    def __init__(self, db: Database, settings: Settings, import_id: int, worker: str) -> None:
        self.after_first = threading.Event()
        self.go_on = threading.Event()
        self.result: jobs.RunResult | None = None
        self.worker = worker
        real = importer_module.Importer._batch
        pause = self

        def batch(self: importer_module.Importer, *args: Any, **kwargs: Any) -> None:
            real(self, *args, **kwargs)
            if self.worker == pause.worker and not pause.after_first.is_set():
                pause.after_first.set()
                assert pause.go_on.wait(30)

        self.patch = batch

        def run() -> None:
            self.result = jobs.run_import(db, settings, import_id, worker=worker)

        self.thread = threading.Thread(target=run)

    def start(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(importer_module.Importer, "_batch", self.patch)
        self.thread.start()
        assert self.after_first.wait(30)

    def finish(self) -> jobs.RunResult:
        self.go_on.set()
        self.thread.join(60)
        assert self.result is not None
        return self.result


def test_two_deliveries_at_once_run_the_import_once(
    db: Database, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings, import_id, documents, refused = queued_numbered_file(db, settings)
    first = PausedRun(db, settings, import_id, "w1:1")
    first.start(monkeypatch)
    assert jobs.run_import(db, settings, import_id, worker="w2:1").state == "held"
    assert state_of(db, import_id).processed_lines == 10  # the second delivery wrote nothing
    assert first.finish().state == "done"
    assert_applied_once(db, import_id, documents, refused)
    assert state_of(db, import_id).attempts == 1


def test_a_run_whose_lease_was_taken_over_cannot_commit(
    db: Database, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings, import_id, documents, refused = queued_numbered_file(db, settings)
    slow = PausedRun(db, settings, import_id, "slow:1")
    slow.start(monkeypatch)
    expire_lease(db, import_id, "slow:1")  # it stalled past its lease (a pause, a partition)
    assert jobs.run_import(db, settings, import_id, worker="w2:1").state == "done"
    assert slow.finish().state == "lost"  # its next batch met the fence and rolled back
    assert_applied_once(db, import_id, documents, refused)


# --- the sweep -------------------------------------------------------------------------------


def test_the_sweep_resends_gives_up_and_deletes_uploads(db: Database, settings: Settings) -> None:
    settings = job_settings(settings, customers_import_max_attempts=2)
    raw = f"nome;cpf\nAna;{cpf(9)}\n".encode()
    sent: list[int] = []
    lost = jobs.submit(db, settings, "a.csv", raw, dry_run=False, actor="t", send=sent.append)
    old = jobs.submit(db, settings, "b.csv", raw, dry_run=False, actor="t", send=sent.append)
    dying = jobs.submit(db, settings, "c.csv", raw, dry_run=False, actor="t", send=sent.append)
    done = jobs.submit(db, settings, "d.csv", raw, dry_run=False, actor="t", send=sent.append)
    assert jobs.run_import(db, settings, done).state == "done" and not upload_kept(db, done)
    sent.clear()
    assert uploads_stored(db, settings)  # beat's gate: the live imports' uploads
    first = jobs.sweep(db, settings, send=sent.append)
    assert (list(first.sent), list(first.abandoned), first.deleted) == ([], [], 0)  # just sent
    now = utcnow()
    with db.write() as session:
        session.execute(
            update(CustomerImport)
            .where(CustomerImport.id == old)
            .values(updated_at=now - dt.timedelta(hours=25))
        )
        session.add(CustomerImportUpload(import_id=done, content=b"left", stored_at=now))
    later = now + dt.timedelta(minutes=1)
    swept = jobs.sweep(db, settings, send=sent.append, now=later)
    assert (list(swept.sent), list(swept.abandoned), swept.deleted) == ([lost, dying], [old], 1)
    assert sent == [lost, dying]
    assert jobs.sweep(db, settings, send=sent.append, now=later).sent == []  # not again at once
    abandoned = state_of(db, old)
    assert abandoned.status == "failed" and abandoned.error.startswith("abandoned")
    assert not upload_kept(db, old) and not upload_kept(db, done)
    assert jobs.run_import(db, settings, old).state == "held"  # given up: never run
    # every run of `dying` dies: the third claim (max 2 attempts) fails it
    for n in range(2):
        with db.write() as session:
            assert repo.claim_import(session, dying, f"w{n}:1", dt.timedelta(seconds=-1))
    assert jobs.run_import(db, settings, dying).state == "failed"
    record = state_of(db, dying)
    assert record.status == "failed" and record.error.startswith("interrupted 2 times")
    assert not upload_kept(db, dying)
    assert jobs.run_import(db, settings, lost).state == "done"
    assert not uploads_stored(db, settings)  # nothing left: beat sends no sweep
    assert beat_entries(settings)["customers-sweep-imports"]["gate"] is uploads_stored


def test_an_api_import_is_queued_and_its_progress_served(db: Database, settings: Settings) -> None:
    """The API stores and queues (202); a dry run through the worker path changes nothing."""
    from tests.customers.support import admin_key

    headers = admin_key(db)
    raw, documents, _ = numbered_file()
    with api_client(settings) as client:
        r = client.post(
            "/v1/customers/import?dry_run=true",
            files={"file": ("a.csv", raw, "text/csv")},
            headers=headers,
        )
        assert r.status_code == 202, r.text
        import_id = r.json()["id"]
        assert upload_kept(db, import_id)
        assert jobs.run_import(db, settings, import_id).state == "done"
        body = client.get(f"/v1/customers/imports/{import_id}", headers=headers).json()
    assert (body["status"], body["dry_run"], body["created"]) == ("done", True, len(documents))
    with db.read() as session:
        assert session.scalar(select(func.count()).select_from(Customer)) == 0
    assert not upload_kept(db, import_id)


def test_a_transient_error_leaves_the_import_to_the_retry(
    db: Database, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A database that fails for a moment: the run releases its lease and re-raises (Celery
    retries the task), the import stays running with its upload; the retry resumes it."""
    settings, import_id, documents, refused = queued_numbered_file(db, settings)
    real, calls = repo.add_import_rejects, {"n": 0}

    def flaky(session: Any, rows: list[dict[str, Any]]) -> None:
        calls["n"] += 1
        if calls["n"] == 2:
            raise OperationalError("INSERT", {}, Exception("server closed the connection"))
        real(session, rows)

    monkeypatch.setattr(repo, "add_import_rejects", flaky)
    with pytest.raises(OperationalError):
        jobs.run_import(db, settings, import_id, worker="w1:1", keep_on=TRANSIENT_ERRORS)
    record = state_of(db, import_id)
    assert (record.status, record.processed_lines) == ("running", 10)
    assert record.lease_until is not None and record.lease_until <= utcnow()  # released
    assert upload_kept(db, import_id)
    assert jobs.run_import(db, settings, import_id, worker="w1:1").state == "done"
    assert_applied_once(db, import_id, documents, refused)


@pytest.mark.one_database
def test_the_run_goes_to_imports_and_the_sweep_to_default(settings: Settings) -> None:
    from sincro.customers import schedule, tasks
    from sincro.worker import celery_app

    assert tasks.run_import.name == jobs.TASK
    assert celery_app.amqp.router.route({}, jobs.TASK)["queue"].name == "imports"
    sweep = celery_app.amqp.router.route({}, tasks.sweep_imports.name)
    assert sweep["queue"].name == "default"  # it must run where nobody takes `imports`
    entries = schedule.beat_entries(settings)
    assert [e["task"] for e in entries.values()] == [tasks.sweep_imports.name]
