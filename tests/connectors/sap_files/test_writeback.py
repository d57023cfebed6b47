"""Write-back round trip: collect, flush (atomic, id in the name), ERP ack, re-sends."""

from __future__ import annotations

import datetime as dt
import logging
import sqlite3
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from sincro.alerts import Alert
from sincro.connectors.models import ErpFile, WriteBack, WriteBackMovement
from sincro.connectors.sap_files import idoc, service, writeback
from sincro.db import utcnow
from sincro.inventory import service as inventory
from sincro.inventory.models import Movement
from sincro.inventory.schemas import ReservationLineIn
from sincro.simulators.sap_files import SapWriter
from tests.connectors.sap_files.conftest import World, sp


def sell(world: World, qty: int) -> str:
    with world.db.write() as s:
        r = inventory.reserve(
            s, "shop", [ReservationLineIn(sku="CEL-000001", location="LJ0001", qty=qty)], 600
        )
        inventory.commit_reservation(s, r.id, "shop")
    return r.id


def test_round_trip_closes_the_writeback_and_sets_erp_known_at(world: World) -> None:
    world.erp_stock("CEL-000001", "LJ0001", 10, sp(21, 10))
    reservation = sell(world, 3)
    with world.db.write() as s:
        [wb_id] = writeback.collect(s, world.cfg)
    with world.db.write() as s:
        assert writeback.collect(s, world.cfg) == []  # idempotent
        wb = s.get(WriteBack, wb_id)
        assert wb is not None and wb.reference == reservation and wb.state == "pending"
        assert wb_id == writeback.writeback_id(
            world.cfg.code, [m.movement_id for m in s.scalars(select(WriteBackMovement))]
        )
    with world.db.write() as s:
        assert writeback.flush(s, world.cfg).written == [wb_id]
    [out] = list(world.cfg.outbox.iterdir())
    assert out.name == f"SINCRO_WMMBXY_{wb_id}.xml"
    [document] = idoc.read_outbound(out)
    assert document["ARCKEY"] == wb_id
    assert document["items"] == [
        {
            "MATNR": "000000000000004711",
            "WERKS": "2001",
            "LGORT": "0001",
            "BWART": "251",
            "SHKZG": "H",
            "ERFMG": "3.000",
            "ERFME": "UN",
        }
    ]
    with world.db.read() as s:
        wb = s.get(WriteBack, wb_id)
        assert wb is not None and (wb.state, wb.attempts, wb.file_name) == ("sent", 1, out.name)
        assert s.scalars(select(ErpFile.kind).where(ErpFile.direction == "out")).all() == [
            "writeback"
        ]
    # SAP posts it and acknowledges
    sap = SapWriter(world.cfg, world.db, seed=1)
    before = utcnow().replace(microsecond=0)
    [ack] = sap.answer_writebacks()
    assert not list(world.cfg.outbox.glob("SINCRO_*"))  # consumed by the ERP
    content = ack.read_bytes()
    assert service.ingest_path(world.db, world.cfg, ack).state == "done"
    with world.db.read() as s:
        wb = s.get(WriteBack, wb_id)
        assert wb is not None and wb.state == "acknowledged" and wb.erp_document.endswith("/2026")
        sale = s.scalars(select(Movement).where(Movement.reason == "sale")).one()
        assert sale.erp_known_at is not None and sale.erp_known_at >= before
        assert sale.erp_known_at == wb.acknowledged_at
    # a second acknowledgement of the same id changes nothing
    again = sap._drop("ACK_again.csv", content.replace(b"STATUS", b"STATUS "))
    assert service.ingest_path(world.db, world.cfg, again[0]).rows_rejected == 0


def test_unacknowledged_writebacks_are_resent_then_fail(world: World) -> None:
    world.erp_stock("CEL-000001", "LJ0001", 10, sp(21, 10))
    world.cfg.writeback.format = "csv"
    world.cfg.writeback.max_attempts = 2
    sell(world, 1)
    with world.db.write() as s:
        [wb_id] = writeback.collect(s, world.cfg)
    now = utcnow()
    with world.db.write() as s:
        assert writeback.flush(s, world.cfg, now).written == [wb_id]
    path = world.cfg.outbox / f"SINCRO_WMMBXY_{wb_id}.csv"
    assert path.read_text().splitlines()[0].startswith("WRITEBACK_ID;ZEILE;MATNR")
    with world.db.write() as s:
        assert writeback.flush(s, world.cfg, now + dt.timedelta(seconds=10)).written == []
    later = now + dt.timedelta(seconds=world.cfg.writeback.retry_after_seconds + 1)
    with world.db.write() as s:
        assert writeback.flush(s, world.cfg, later).written == [wb_id]  # same id, same name
    assert [p.name for p in world.cfg.outbox.iterdir()] == [path.name]
    with world.db.write() as s:
        result = writeback.flush(s, world.cfg, later + dt.timedelta(days=1))
        assert result.failed == [wb_id]
    with world.db.read() as s:
        wb = s.get(WriteBack, wb_id)
        assert wb is not None and (wb.state, wb.attempts) == ("failed", 2)
        assert s.scalars(select(Alert.kind)).all() == ["writeback_failed"]
        sale = s.scalars(select(Movement).where(Movement.reason == "sale")).one()
        assert sale.erp_known_at is None  # still replayed by every snapshot


def test_ack_with_unknown_id_or_error_status(world: World) -> None:
    world.erp_stock("CEL-000001", "LJ0001", 10, sp(21, 10))
    sell(world, 1)
    with world.db.write() as s:
        [wb_id] = writeback.collect(s, world.cfg)
    path = world.cfg.inbox / "ACK_x.csv"
    path.write_text(
        "WRITEBACK_ID;MBLNR;MJAHR;BUDAT;CPUTM;STATUS;MESSAGE\n"
        "00000000-0000-0000-0000-000000000000;1;2026;20261122;060000;OK;\n"
        f"{wb_id};;2026;20261122;060000;ERROR;Material bloqueado\n"
    )
    outcome = service.ingest_path(world.db, world.cfg, path)
    assert (outcome.rows_applied, outcome.rows_rejected) == (1, 1)
    with world.db.read() as s:
        wb = s.get(WriteBack, wb_id)
        assert wb is not None and wb.state == "failed" and wb.last_error == "Material bloqueado"
        assert s.scalars(select(Alert.kind)).all() == ["writeback_refused"]


def test_tasks_and_beat_entries_are_named_for_their_queues() -> None:
    from sincro.connectors.sap_files import schedule, tasks
    from sincro.worker import celery_app

    names = {
        "sincro.connectors.ingest.process_file",
        "sincro.connectors.ingest.scan_inbox",
        "sincro.connectors.writeback.collect",
        "sincro.connectors.writeback.flush",
        "sincro.connectors.ingest.prune_archive",
    }
    assert names <= set(celery_app.tasks)
    assert tasks.process_file.name == "sincro.connectors.ingest.process_file"
    entries = schedule.beat_entries(["sap-ecc"])
    assert {e["task"] for e in entries.values()} == names - {
        "sincro.connectors.ingest.process_file"
    }
    route = celery_app.amqp.router.route({}, "sincro.connectors.ingest.process_file")
    assert route["queue"].name == "ingest"


def test_the_watchers_loop_skips_a_round_the_database_is_busy_and_goes_on(
    world: World, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """`sync watch` runs write-backs in a thread of its own: a round that meets SQLite's
    write lock taken past its wait (the inline import holding it) is skipped with a warning,
    not a traceback that ended the thread and every later write-back with it."""
    world.erp_stock("CEL-000001", "LJ0001", 10, sp(21, 10))
    sell(world, 3)
    real_collect = writeback.collect

    def locked(session: Any, cfg: Any, limit: int | None = None) -> list[str]:
        cause = sqlite3.OperationalError("database is locked")
        raise OperationalError("BEGIN IMMEDIATE", {}, cause)

    monkeypatch.setattr(writeback, "collect", locked)
    with caplog.at_level(logging.WARNING, logger="sincro.connectors.writeback"):
        assert writeback.run_in_loop(world.db, world.cfg) is False
    [record] = caplog.records
    assert "busy or away" in record.getMessage() and record.exc_info is None
    assert not list(world.cfg.outbox.iterdir())  # nothing half-done
    monkeypatch.setattr(writeback, "collect", real_collect)
    assert writeback.run_in_loop(world.db, world.cfg) is True  # the next round does the work
    [out] = list(world.cfg.outbox.iterdir())
    assert out.name.startswith("SINCRO_WMMBXY_")


def test_the_watchers_loop_survives_an_unexpected_error(
    world: World, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(session: Any, cfg: Any, limit: int | None = None) -> list[str]:
        raise RuntimeError("a bug")

    monkeypatch.setattr(writeback, "collect", broken)
    with caplog.at_level(logging.WARNING, logger="sincro.connectors.writeback"):
        assert writeback.run_in_loop(world.db, world.cfg) is False  # logged, not raised
    [record] = caplog.records
    assert record.exc_info is not None and "a bug" in str(record.exc_info[1])
