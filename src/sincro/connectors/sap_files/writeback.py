"""Write-back: changes that originated in Sincro go back to SAP as WMMBXY files.

1. :func:`collect` finds on-hand movements the ERP does not know (``erp_known_at`` NULL, source
   not an ERP connector, at a location this source maps) that no write-back carries yet, groups
   them by reference (one reservation = one material document) and records a
   :class:`WriteBack` per group with a stable id (UUID5 of the source and its movement ids:
   collecting twice cannot make two write-backs of the same movements) and its
   :class:`WriteBackMovement` links. Idempotent.
2. :func:`flush` writes each due write-back as a WMMBID02 IDoc (or flat CSV) into the outbox:
   first under a temporary name, then renamed (atomic), the write-back id in the file name and
   in ``EDI_DC40/ARCKEY``. Unacknowledged ones are re-sent after ``retry_after_seconds`` under
   the same id (the ERP side dedupes on it) up to ``max_attempts``, then marked ``failed``
   with a ``writeback_failed`` alert.
3. :func:`apply_ack_file`: the ERP's acknowledgement (``WRITEBACK_ID;MBLNR;MJAHR;BUDAT;CPUTM;
   STATUS``) closes a write-back: state ``acknowledged``, ``erp_document`` = MBLNR/MJAHR, and
   ``erp_known_at`` of its movements = the posting time, so the next snapshot as of a later
   time stops replaying them. Until then every snapshot keeps them (see :mod:`.snapshot`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import logging
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, insert, select, update
from sqlalchemy.orm import Session

from sincro.catalog import service as catalog
from sincro.connectors.alerts import raise_alert
from sincro.connectors.models import (
    ErpFile,
    FileState,
    LocationAlias,
    ProductAlias,
    WriteBack,
    WriteBackMovement,
    WriteBackState,
)
from sincro.connectors.sap_files import idoc, repository as repo
from sincro.connectors.sap_files.config import SapFilesSource
from sincro.connectors.sap_files.formats import (
    AckReader,
    AckRow,
    Reject,
    format_quantity,
    pad_matnr,
    write_rows,
)
from sincro.db import Database, is_unavailable, utcnow
from sincro.inventory import service as inventory

log = logging.getLogger("sincro.connectors.writeback")

ENTITY = "writeback_ack"
NAMESPACE = uuid.UUID("4f0b7c2e-58a1-4d55-9a57-3c1b8c0e5a10")
Progress = Callable[[int, int], None]

# Sincro reason -> (BWART for an increase, BWART for a decrease)
BWART_OF: dict[str, tuple[str, str]] = {
    "sale": ("252", "251"),
    "receipt": ("501", "502"),
    "transfer": ("305", "303"),
}
DEFAULT_BWART = ("701", "702")


def writeback_id(source: str, movement_ids: list[int]) -> str:
    return str(uuid.uuid5(NAMESPACE, f"{source}:" + ",".join(map(str, sorted(movement_ids)))))


def _plants(session: Session, cfg: SapFilesSource) -> dict[int, tuple[str, str]]:
    """location_id -> (WERKS, LGORT) for writing: aliases first, then the config table."""
    codes = {c: p.id for c, p in catalog.places_by_code(session, cfg.plants.values()).items()}
    out: dict[int, tuple[str, str]] = {}
    for key, code in sorted(cfg.plants.items()):
        plant, _, storage = key.partition("/")
        if code in codes:
            out.setdefault(codes[code], (plant, storage or cfg.default_storage))
    aliases = session.execute(
        select(LocationAlias.location_id, LocationAlias.plant, LocationAlias.storage)
        .where(LocationAlias.source == cfg.code)
        .order_by(LocationAlias.plant, LocationAlias.storage.desc())
    )
    chosen: dict[int, tuple[str, str]] = {}
    for location_id, plant, storage in aliases:
        chosen.setdefault(location_id, (plant, storage or cfg.default_storage))
    out.update(chosen)
    return out


def collect(session: Session, cfg: SapFilesSource, limit: int | None = None) -> list[str]:
    """Record write-backs for the Sincro-originated movements not yet carried by one."""
    if not cfg.writeback.enabled:
        return []
    plants = _plants(session, cfg)
    if not plants:
        return []
    rows = inventory.movements_for_writeback(
        session,
        list(plants),
        select(WriteBackMovement.movement_id),
        limit=limit or cfg.writeback.batch_size,
    )
    if not rows:
        return []
    product_ids = {r.product_id for r in rows}
    matnr = catalog.skus_by_id(session, product_ids)
    matnr.update(
        session.execute(
            select(ProductAlias.product_id, ProductAlias.external_code).where(
                ProductAlias.source == cfg.code, ProductAlias.product_id.in_(product_ids)
            )
        )
        .tuples()
        .all()
    )
    groups: dict[str, list[Any]] = {}
    for row in rows:
        groups.setdefault(row.reference or f"movement:{row.id}", []).append(row)
    now, ids = utcnow(), []
    for reference, members in groups.items():
        wb_id = writeback_id(cfg.code, [m.id for m in members])
        if session.get(WriteBack, wb_id) is not None:
            continue
        items = []
        for m in members:
            werks, lgort = plants[m.location_id]
            up, down = BWART_OF.get(m.reason, DEFAULT_BWART)
            items.append(
                {
                    "movement_id": m.id,
                    "matnr": pad_matnr(matnr[m.product_id]),
                    "werks": werks,
                    "lgort": lgort,
                    "bwart": up if m.quantity > 0 else down,
                    "shkzg": "S" if m.quantity > 0 else "H",
                    "quantity": abs(m.quantity),
                    "unit": "UN",
                    "reason": m.reason,
                }
            )
        occurred = max(m.occurred_at for m in members).astimezone(cfg.tz)
        session.add(
            WriteBack(
                id=wb_id,
                source=cfg.code,
                kind="goods_movement",
                reference=reference[:80],
                payload={"budat": occurred.strftime("%Y%m%d"), "items": items},
                state=WriteBackState.pending.value,
                attempts=0,
                next_attempt_at=now,
                created_at=now,
            )
        )
        session.flush()
        session.execute(
            insert(WriteBackMovement),
            [{"writeback_id": wb_id, "movement_id": m.id} for m in members],
        )
        ids.append(wb_id)
    return ids


# --- files out -----------------------------------------------------------------------------


def run(db: Database, cfg: SapFilesSource) -> tuple[list[str], FlushResult]:
    """One write-back round of a source: collect the new movements, then write the due
    write-backs to the outbox, each step in a transaction of its own (whole or nothing)."""
    with db.write() as session:
        created = collect(session, cfg)
    with db.write() as session:
        flushed = flush(session, cfg)
    return created, flushed


def run_in_loop(db: Database, cfg: SapFilesSource) -> bool:
    """:func:`run` for a loop that must outlive its rounds (the watcher's write-back thread):
    a database busy past its lock wait or away skips this round with a warning, and the next
    round picks up where it left off, since each step commits whole or not at all; any other
    error is logged with its traceback. False when the round did not complete."""
    try:
        run(db, cfg)
    except Exception as exc:
        if is_unavailable(exc):
            log.warning(
                "write-back of %s skipped this round: the database is busy or away (%s)",
                cfg.code,
                type(exc).__name__,
            )
        else:
            log.exception("write-back of %s failed this round", cfg.code)
        return False
    return True


def render(cfg: SapFilesSource, wb: WriteBack, now: dt.datetime) -> tuple[str, bytes]:
    """(file name, content) of one write-back."""
    items = wb.payload["items"]
    if cfg.writeback.format == "csv":
        buffer = io.StringIO()
        write_rows(
            buffer,
            [
                "WRITEBACK_ID",
                "ZEILE",
                "MATNR",
                "WERKS",
                "LGORT",
                "BWART",
                "SHKZG",
                "ERFMG",
                "ERFME",
                "BUDAT",
                "XBLNR",
            ],
            [
                [
                    wb.id,
                    str(n),
                    i["matnr"],
                    i["werks"],
                    i["lgort"],
                    i["bwart"],
                    i["shkzg"],
                    format_quantity(i["quantity"], cfg.decimal_separator),
                    i["unit"],
                    wb.payload["budat"],
                    (wb.reference or "")[:16],
                ]
                for n, i in enumerate(items, start=1)
            ],
        )
        return f"SINCRO_WMMBXY_{wb.id}.csv", buffer.getvalue().encode("utf-8")
    document = idoc.IdocDocument(
        docnum=str(int(hashlib.sha1(wb.id.encode()).hexdigest()[:12], 16) % 10**16),
        sender=cfg.sincro_partner,
        receiver=cfg.sap_partner,
        created=now.astimezone(cfg.tz),
        budat=wb.payload["budat"],
        arckey=wb.id,
        xblnr=(wb.reference or "")[:16],
        items=[
            idoc.IdocItem(
                matnr=i["matnr"],
                werks=i["werks"],
                lgort=i["lgort"],
                bwart=i["bwart"],
                shkzg=i["shkzg"],
                quantity=format_quantity(i["quantity"], "."),
                unit=i["unit"],
            )
            for i in items
        ],
    )
    return f"SINCRO_WMMBXY_{wb.id}.xml", idoc.render([document]).encode("utf-8")


def atomic_write(folder: Path, name: str, content: bytes) -> Path:
    """Write under a temporary name, flush to disk, rename into place."""
    folder.mkdir(parents=True, exist_ok=True)
    final, temp = folder / name, folder / f".{name}.tmp"
    with temp.open("wb") as stream:
        stream.write(content)
        stream.flush()
        os.fsync(stream.fileno())
    os.replace(temp, final)
    return final


@dataclass
class FlushResult:
    written: list[str]
    failed: list[str]


def flush(session: Session, cfg: SapFilesSource, now: dt.datetime | None = None) -> FlushResult:
    """Write the due write-backs to the outbox (new ones, and unacknowledged ones whose retry
    time has come). The file is written before this transaction commits: a crash in between
    re-sends the same id later, which the ERP dedupes."""
    now = now or utcnow()
    due = session.scalars(
        select(WriteBack)
        .where(
            WriteBack.source == cfg.code,
            WriteBack.state.in_([WriteBackState.pending.value, WriteBackState.sent.value]),
            WriteBack.next_attempt_at <= now,
        )
        .order_by(WriteBack.created_at, WriteBack.id)
        .limit(cfg.writeback.batch_size)
        .with_for_update(skip_locked=True)
    ).all()
    result = FlushResult([], [])
    for wb in due:
        if wb.attempts >= cfg.writeback.max_attempts:
            wb.state = WriteBackState.failed.value
            wb.last_error = f"no acknowledgement after {wb.attempts} attempts"
            raise_alert(
                session,
                "writeback_failed",
                f"Write-back {wb.id} sem confirmação do SAP após {wb.attempts} envios",
                source=cfg.code,
                severity="critical",
                details={"writeback_id": wb.id, "file_name": wb.file_name},
                dedupe_key=f"writeback_failed:{wb.id}",
            )
            result.failed.append(wb.id)
            continue
        name, content = render(cfg, wb, now)
        path = atomic_write(cfg.outbox, name, content)
        wb.state = WriteBackState.sent.value
        wb.attempts += 1
        wb.sent_at = now
        wb.file_name = name
        wb.next_attempt_at = now + dt.timedelta(seconds=cfg.writeback.retry_after_seconds)
        session.add(
            ErpFile(
                source=cfg.code,
                direction="out",
                kind="writeback",
                name=name,
                path=str(path),
                size=len(content),
                sha256=hashlib.sha256(content).hexdigest(),
                state=FileState.done.value,
                rows_total=len(wb.payload["items"]),
                rows_applied=len(wb.payload["items"]),
                received_at=now,
                finished_at=now,
            )
        )
        result.written.append(wb.id)
    return result


# --- acknowledgements in ---------------------------------------------------------------------


def apply_ack(session: Session, cfg: SapFilesSource, row: AckRow) -> Reject | None:
    wb = session.get(WriteBack, row.writeback_id, with_for_update=True)
    if wb is None or wb.source != cfg.code:
        return Reject(
            row.seq,
            row.line,
            "WRITEBACK_ID",
            "unknown_writeback",
            row.writeback_id,
            "no such write-back for this source",
            row.writeback_id,
        )
    if wb.state == WriteBackState.acknowledged.value:
        return None
    if row.status != "OK":
        wb.state = WriteBackState.failed.value
        wb.last_error = row.message or f"ERP status {row.status}"
        wb.next_attempt_at = None
        raise_alert(
            session,
            "writeback_refused",
            f"SAP recusou o write-back {wb.id}: {wb.last_error}",
            source=cfg.code,
            severity="warning",
            details={"writeback_id": wb.id},
            dedupe_key=f"writeback_refused:{wb.id}",
        )
        return None
    wb.state = WriteBackState.acknowledged.value
    wb.erp_document = f"{row.document}/{row.year}"
    wb.acknowledged_at = row.posted_at
    wb.next_attempt_at = None
    wb.last_error = None
    linked = select(WriteBackMovement.movement_id).where(WriteBackMovement.writeback_id == wb.id)
    inventory.mark_erp_known(session, linked, row.posted_at)
    return None


def apply_ack_file(
    conn: Connection,
    cfg: SapFilesSource,
    file_id: int,
    path: Path,
    run_id: int | None,
    progress: Progress | None = None,
) -> tuple[int, int]:
    """Apply an acknowledgement file in chunks; returns (applied, rejected)."""
    rows = list(AckReader(path, cfg.encoding, cfg.tz).rows())  # small files: validate first
    with repo.tx(conn) as session:
        erp_file = session.get(ErpFile, file_id)
        assert erp_file is not None
        erp_file.rows_total = len(rows)
        start = erp_file.next_line
    applied = rejected = 0
    todo = [r for r in rows if r.seq > start]
    for offset in range(0, len(todo), cfg.chunk_rows):
        chunk = todo[offset : offset + cfg.chunk_rows]
        with repo.tx(conn) as session:
            rejects = [r for r in chunk if isinstance(r, Reject)]
            for row in chunk:
                if isinstance(row, AckRow) and (reject := apply_ack(session, cfg, row)):
                    rejects.append(reject)
            repo.add_rejects(session, cfg.code, ENTITY, file_id, run_id, rejects)
            session.execute(
                update(ErpFile)
                .where(ErpFile.id == file_id)
                .values(
                    next_line=chunk[-1].seq,
                    rows_applied=ErpFile.rows_applied + len(chunk) - len(rejects),
                    rows_rejected=ErpFile.rows_rejected + len(rejects),
                )
            )
        applied += len(chunk) - len(rejects)
        rejected += len(rejects)
        if progress:
            progress(chunk[-1].seq, len(rows))
    return applied, rejected
