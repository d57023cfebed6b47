"""An entity split into page ranges (``parts``): the same final state as a sequential sync,
and a failed range is reported without moving the cursor past a page that was not applied."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from sqlalchemy import select

from sincro.config import Settings
from sincro.connectors import orchestrator
from sincro.connectors.config import ConnectorsConfig
from sincro.connectors.models import SyncCursor, SyncReject, SyncRun
from sincro.connectors.orchestrator import PageSpan, run_source, run_sources
from sincro.customers.models import Customer, Receivable
from sincro.db import Database
from sincro.demo.loader import load_demo
from sincro.simulators.rest import ProtheusSimulator
from tests.conftest import wipe
from tests.connectors.rest.conftest import (
    CUSTOMERS,
    DCS,
    PRODUCTS,
    STORES,
    alias_locations,
    rest_config,
)
from tests.connectors.rest.test_sync import snapshot


def split_config(url: str, parts: int) -> ConnectorsConfig:
    config = rest_config(url)
    for entity in config.sources[0].entities:  # type: ignore[union-attr]
        if entity.name != "products":
            entity.parts = parts
    return config


def state(db: Database) -> dict[str, Any]:
    """The data, the rejects, the cursors and the run counters a sync leaves (receivables name
    their customer by code: ranges side by side number new customers in another order)."""
    with db.read() as session:
        extra = {
            "receivables": sorted(
                session.execute(
                    select(Receivable.external_code, Receivable.balance, Customer.external_code)
                    .select_from(Receivable)
                    .outerjoin(Customer, Customer.id == Receivable.customer_id)
                ).all()
            ),
            "rejects": sorted(
                session.execute(
                    select(SyncReject.entity, SyncReject.record_key, SyncReject.rule)
                ).all()
            ),
            "cursors": sorted(session.execute(select(SyncCursor.entity, SyncCursor.cursor)).all()),
            "runs": sorted(
                session.execute(
                    select(
                        SyncRun.entity,
                        SyncRun.status,
                        SyncRun.records_in,
                        SyncRun.records_applied,
                        SyncRun.records_rejected,
                        SyncRun.progress_done,
                    )
                ).all()
            ),
        }
    return {**snapshot(db), **extra}


def fresh(db: Database, config: ConnectorsConfig) -> None:
    wipe(db)
    db.dispose()
    load_demo(db.url, stores=STORES, dcs=DCS, products=PRODUCTS)
    alias_locations(db, config)


def spans_seen(monkeypatch: pytest.MonkeyPatch) -> list[PageSpan]:
    """The ranges the threads ran (the ranges of a split run in this process)."""
    seen: list[PageSpan] = []
    original = orchestrator._sync_part

    def spy(rt: Any, entity: str, run_id: int, span: PageSpan, *args: Any) -> Any:
        seen.append(span)
        return original(rt, entity, run_id, span, *args)

    monkeypatch.setattr(orchestrator, "_sync_part", spy)
    return seen


def test_split_entities_end_as_a_sequential_sync(
    settings: Settings, demo: Database, protheus: ProtheusSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    protheus.faults.bad_record_rate = 0.05  # rejects in every entity, in every range
    sequential, split = rest_config(protheus.url), split_config(protheus.url, 3)
    fresh(demo, sequential)
    run_sources(settings, sequential, parallel=False, db=demo)
    expected = state(demo)

    seen = spans_seen(monkeypatch)
    fresh(demo, split)
    (result,) = run_sources(settings, split, db=demo)
    assert {(s.first, s.last, s.open_ended) for s in seen} >= {
        (1, 3, False),
        (4, 6, False),
        (7, 10, True),  # stock: (4 stores + 1 DC) x 20 products, 10 pages
        (1, 4, False),
        (5, 8, False),
        (9, 12, True),  # customers: 120, 12 pages
    }
    by_entity = {e.entity: e for e in result.entities}
    assert by_entity["stock"].pages == 10 and by_entity["customers"].pages == CUSTOMERS // 10
    assert state(demo) == expected
    assert expected["rejects"] and expected["corrections"] > 0


def test_ranges_ask_with_the_cursor_their_split_was_planned_with(
    settings: Settings, demo: Database, protheus: ProtheusSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A range that starts after the first one has moved the saved cursor still fetches its
    own pages (numbered against the cursor the split was planned with)."""
    config = split_config(protheus.url, 3)
    turn = threading.Condition()
    finished: list[int] = []
    original = orchestrator._sync_part

    def in_order(rt: Any, entity: str, run_id: int, span: PageSpan, *args: Any) -> Any:
        with turn:
            turn.wait_for(lambda: len(finished) == span.index)
        try:
            return original(rt, entity, run_id, span, *args)
        finally:
            with turn:
                finished.append(span.index)
                turn.notify_all()

    monkeypatch.setattr(orchestrator, "_sync_part", in_order)
    (result,) = run_source(settings, config, "protheus", entities=["customers"], db=demo).entities
    assert finished == [0, 1, 2]
    assert (result.status, result.records_in, result.pages) == ("succeeded", CUSTOMERS, 12)
    with demo.read() as session:
        codes = list(session.scalars(select(Customer.external_code)))
    assert sorted(codes) == [f"{i:06d}-01" for i in range(1, CUSTOMERS + 1)]


@pytest.mark.parametrize(
    ("fail_page", "applied_pages", "cursor"),
    [
        # the middle range fails after its first page: the first range is the prefix, then
        # page 5; the cursor is record 50's stamp although the last range finished
        (6, [1, 2, 3, 4, 5, 9, 10, 11, 12], "2026-01-01T00:00:49Z"),
        # the first range fails: the cursor stays at its last applied page (record 10)
        (2, [1, 5, 6, 7, 8, 9, 10, 11, 12], "2026-01-01T00:00:09Z"),
    ],
)
def test_failed_range_is_reported_and_the_cursor_stays_at_the_prefix(
    settings: Settings,
    demo: Database,
    protheus: ProtheusSimulator,
    fail_page: int,
    applied_pages: list[int],
    cursor: str,
) -> None:
    config = split_config(protheus.url, 3)
    protheus.faults.fail_page = fail_page
    (failed,) = run_source(settings, config, "protheus", entities=["customers"], db=demo).entities
    assert failed.status == "failed"
    assert failed.error is not None and failed.error.startswith("server_error: pages ")
    assert f"simulated failure of page {fail_page}" in failed.error
    assert failed.pages == len(applied_pages)
    with demo.read() as session:
        codes = sorted(session.scalars(select(Customer.external_code)))
        saved = session.get(SyncCursor, ("protheus", "customers"))
        run = session.get(SyncRun, failed.run_id)
    # every page whole or not at all: exactly the records of the pages applied
    assert codes == sorted(
        f"{i:06d}-01" for p in applied_pages for i in range(p * 10 - 9, p * 10 + 1)
    )
    assert saved is not None and saved.cursor == cursor
    assert run is not None and run.status == "failed" and run.records_applied == len(codes)

    protheus.faults.fail_page = None
    (rerun,) = run_source(settings, config, "protheus", entities=["customers"], db=demo).entities
    assert rerun.status == "succeeded"
    with demo.read() as session:
        codes = list(session.scalars(select(Customer.external_code)))
        saved = session.get(SyncCursor, ("protheus", "customers"))
    assert len(codes) == len(set(codes)) == CUSTOMERS  # resumed, nothing twice
    assert saved is not None and saved.cursor == "2026-01-01T00:01:59Z"  # record 120


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_split_in_processes_matches_sequential(
    settings: Settings, demo: Database, protheus: ProtheusSimulator
) -> None:
    """The ranges in worker processes (what the full-sync benchmark runs; the processes share
    the database through PostgreSQL, so there is no SQLite case to skip)."""
    sequential, split = rest_config(protheus.url), split_config(protheus.url, 2)
    fresh(demo, sequential)
    run_sources(settings, sequential, parallel=False, db=demo)
    expected = state(demo)
    fresh(demo, split)
    (result,) = run_sources(settings, split, db=demo, processes=True)
    assert {e.status for e in result.entities} == {"succeeded"}
    assert state(demo) == expected
