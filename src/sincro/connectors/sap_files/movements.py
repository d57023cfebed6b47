"""Goods movements (WMMBXY, as IDoc XML or flat CSV) applied to the ledger.

Each item becomes one ERP-known inventory movement, applied set-based per chunk by
:func:`inventory.bulk.apply_erp_lines` (``erp_known_at`` = when the ERP knew of the posting, see
:func:`formats.movement_known_at`). Items are applied in chunks of ``chunk_rows``, each chunk
one transaction that also writes its ``erp_movement_keys`` (MBLNR + MJAHR + item), its rejects
and ``erp_files.next_line``. Re-dropped items (same key) are skipped, so a re-sent or
overlapping file is harmless; a crash resumes after ``next_line``.

An item the ERP booked but Sincro cannot apply without going below zero (rule
``insufficient_stock``) is rejected alone; the rest of its chunk applies. After the file, every
material document it touched is checked for holes in its item numbering (a ``movement_gap``
warning per document, resolved when the missing items arrive).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Connection, select, update
from sqlalchemy.orm import Session

from sincro.catalog import service as catalog
from sincro.connectors.alerts import raise_alert, resolve_alerts
from sincro.connectors.models import ErpFile, ErpMovementKey
from sincro.connectors.sap_files import idoc, repository as repo
from sincro.connectors.sap_files.config import SapFilesSource
from sincro.connectors.sap_files.formats import MovementCsvReader, MovementRow, Reject
from sincro.connectors.sap_files.mapping import Mapper, UnknownCode, effect_of
from sincro.db import insert_rows, utcnow
from sincro.inventory import bulk
from sincro.inventory.bulk import ErpLine
from sincro.inventory.schemas import MAX_MOVEMENT_QUANTITY

ENTITY = "goods_movements"
KEEP_PARSED = 100_000  # items of a CSV file kept in memory between validating and applying
Progress = Callable[[int, int], None]


@dataclass
class MovementResult:
    records: int = 0
    applied: int = 0
    skipped: int = 0  # already applied (re-drop)
    rejected: int = 0
    gaps: dict[str, list[int]] = field(default_factory=dict)


def is_xml(path: Path) -> bool:
    with path.open("rb") as stream:
        return stream.read(512).lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<")


def load(cfg: SapFilesSource, path: Path) -> tuple[int, Iterable[MovementRow | Reject]]:
    """Read the whole file once before applying anything (a truncated file must fail whole):
    its number of items, and the items — kept from that read when there are at most
    ``KEEP_PARSED`` (CSV), else read again while applying."""
    if is_xml(path):
        return idoc.validate(path), idoc.read_items(path, ".", cfg.tz)  # IDoc: decimal point
    reader = MovementCsvReader(path, cfg.encoding, cfg.decimal_separator, cfg.tz)
    kept: list[MovementRow | Reject] = []
    total = 0
    for item in reader.rows():
        total += 1
        if total <= KEEP_PARSED:
            kept.append(item)
    if total <= KEEP_PARSED:
        return total, kept
    return total, MovementCsvReader(path, cfg.encoding, cfg.decimal_separator, cfg.tz).rows()


def apply_file(
    conn: Connection,
    cfg: SapFilesSource,
    file_id: int,
    path: Path,
    run_id: int | None,
    progress: Progress | None = None,
) -> MovementResult:
    total, items = load(cfg, path)
    result = MovementResult(records=total)
    with repo.tx(conn) as session:
        erp_file = session.get(ErpFile, file_id)
        assert erp_file is not None
        erp_file.rows_total = total
        start = erp_file.next_line
        mapper = Mapper(session, cfg)
    seen: dict[tuple[str, int], set[int]] = {}
    chunk: list[MovementRow | Reject] = []
    for item in items:
        if isinstance(item, MovementRow):
            seen.setdefault((item.document, item.year), set()).add(item.item)
        if item.seq <= start:
            continue
        chunk.append(item)
        if len(chunk) >= cfg.chunk_rows:
            _commit_chunk(conn, cfg, mapper, file_id, run_id, chunk, result)
            if progress:
                progress(chunk[-1].seq, total)
            chunk = []
    if chunk:
        _commit_chunk(conn, cfg, mapper, file_id, run_id, chunk, result)
        if progress:
            progress(chunk[-1].seq, total)
    with repo.tx(conn) as session:
        result.gaps = report_gaps(session, cfg, file_id, seen)
    return result


def _commit_chunk(
    conn: Connection,
    cfg: SapFilesSource,
    mapper: Mapper,
    file_id: int,
    run_id: int | None,
    chunk: list[MovementRow | Reject],
    result: MovementResult,
) -> None:
    with repo.tx(conn) as session:
        applied, skipped, rejects = apply_chunk(session, cfg, mapper, file_id, chunk)
        repo.add_rejects(session, cfg.code, ENTITY, file_id, run_id, rejects)
        session.execute(
            update(ErpFile)
            .where(ErpFile.id == file_id)
            .values(
                next_line=chunk[-1].seq,
                rows_applied=ErpFile.rows_applied + applied,
                rows_rejected=ErpFile.rows_rejected + len(rejects),
            )
        )
    result.applied += applied
    result.skipped += skipped
    result.rejected += len(rejects)


def apply_chunk(
    session: Session,
    cfg: SapFilesSource,
    mapper: Mapper,
    file_id: int,
    chunk: list[MovementRow | Reject],
) -> tuple[int, int, list[Reject]]:
    """Apply one chunk inside the caller's transaction: (applied, skipped, rejects)."""
    rejects = [item for item in chunk if isinstance(item, Reject)]
    rows = [item for item in chunk if isinstance(item, MovementRow)]
    done = _applied_keys(session, cfg.code, rows)
    mapped: list[tuple[MovementRow, int, int, int]] = []
    skipped = 0
    for row in rows:
        key = (row.document, row.year, row.item)
        if key in done:
            skipped += 1
            continue
        try:
            product_id = mapper.product(row.matnr)
            location_id = mapper.location(row.werks, row.lgort)
            quantity = _base_quantity(mapper, row)
        except UnknownCode as exc:
            rejects.append(
                Reject(row.seq, row.line, exc.field, exc.rule, exc.value, exc.message, row.key)
            )
            continue
        done.add(key)
        mapped.append((row, product_id, location_id, quantity))
    wanted = {product_id for _, product_id, _, _ in mapped}
    skus = catalog.skus_by_id(session, wanted)
    lines: list[tuple[MovementRow, ErpLine | None]] = []
    for row, product_id, location_id, quantity in mapped:
        effect = effect_of(row.bwart, row.shkzg, quantity)
        if effect.quantity == 0:
            lines.append((row, None))
            continue
        if abs(effect.quantity) > MAX_MOVEMENT_QUANTITY:
            message = f"at most {MAX_MOVEMENT_QUANTITY:,} base units per item"
            rejects.append(
                Reject(
                    row.seq, row.line, "ERFMG", "invalid_movement", str(quantity), message, row.key
                )
            )
            continue
        movement = ErpLine(
            product_id,
            location_id,
            effect.bucket,
            effect.quantity,
            effect.reason,
            occurred_at=row.known_at,
            reference=f"{row.document}/{row.year}/{row.item}",
        )
        lines.append((row, movement))
    applied_rows = _apply(session, cfg, file_id, lines, skus, rejects)
    now = utcnow()
    if applied_rows:
        insert_rows(
            session,
            ErpMovementKey.__table__,  # type: ignore[arg-type]
            [
                {
                    "source": cfg.code,
                    "document": r.document,
                    "year": r.year,
                    "line": r.item,
                    "file_id": file_id,
                    "applied_at": now,
                }
                for r in applied_rows
            ],
        )
    rejects.sort(key=lambda r: r.seq)
    return len(applied_rows), skipped, rejects


def _base_quantity(mapper: Mapper, row: MovementRow) -> int:
    """ERFMG in ERFME converted with the units table; MENGE/MEINS when ERFME is unknown."""
    try:
        return mapper.base(row.quantity, row.unit, "ERFME")
    except UnknownCode:
        if row.base_quantity is not None and row.base_unit and row.base_unit in mapper.units:
            return mapper.base(row.base_quantity, row.base_unit, "MEINS")
        raise


def _apply(
    session: Session,
    cfg: SapFilesSource,
    file_id: int,
    lines: list[tuple[MovementRow, ErpLine | None]],
    skus: dict[int, str],
    rejects: list[Reject],
) -> list[MovementRow]:
    """Every line set-based (:mod:`sincro.inventory.bulk`); only the lines that would take a
    bucket below zero are refused, each as an ``insufficient_stock`` reject."""
    movements = [(row, m) for row, m in lines if m is not None]
    key = f"sap:{cfg.code}:file:{file_id}"
    short = bulk.apply_erp_lines(
        session, cfg.movement_source, [m for _, m in movements], skus, idempotency_key=key
    )
    refused = set()
    for line in short:
        row, movement = movements[line.index]
        refused.add(row.seq)
        rejects.append(
            Reject(
                row.seq,
                row.line,
                "ERFMG",
                "insufficient_stock",
                str(movement.quantity),
                f"{movement.bucket.value} would go below zero (has {line.available})",
                row.key,
            )
        )
    return [row for row, _ in lines if row.seq not in refused]


def _applied_keys(
    session: Session, source: str, rows: list[MovementRow]
) -> set[tuple[str, int, int]]:
    if not rows:
        return set()
    K = ErpMovementKey
    docs = {(r.document, r.year) for r in rows}
    found = session.execute(
        select(K.document, K.year, K.line).where(
            K.source == source, K.document.in_({d for d, _ in docs})
        )
    )
    return {(d, y, line) for d, y, line in found if (d, y) in docs}


def report_gaps(
    session: Session, cfg: SapFilesSource, file_id: int, seen: dict[tuple[str, int], set[int]]
) -> dict[str, list[int]]:
    """Missing item numbers per material document (items of this file plus those applied before)."""
    K = ErpMovementKey
    known: dict[tuple[str, int], set[int]] = {doc: set(items) for doc, items in seen.items()}
    documents = sorted({document for document, _ in seen})
    for start in range(0, len(documents), 1000):
        for document, year, line in session.execute(
            select(K.document, K.year, K.line).where(
                K.source == cfg.code, K.document.in_(documents[start : start + 1000])
            )
        ):
            if (document, year) in known:
                known[(document, year)].add(line)
    gaps: dict[str, list[int]] = {}
    complete: list[str] = []
    for (document, year), items in sorted(known.items()):
        missing = sorted(set(range(1, max(items) + 1)) - items)
        dedupe = f"movement_gap:{cfg.code}:{document}/{year}"
        if not missing:
            complete.append(dedupe)
            continue
        gaps[f"{document}/{year}"] = missing
        raise_alert(
            session,
            "movement_gap",
            f"Documento de material {document}/{year}: itens ausentes {_ranges(missing)}",
            source=cfg.code,
            severity="warning",
            details={
                "file_id": file_id,
                "document": document,
                "year": year,
                "missing": missing[:200],
            },
            dedupe_key=dedupe,
        )
    resolve_alerts(session, *complete)
    return gaps


def _ranges(numbers: list[int]) -> str:
    """``[2, 3, 4, 7]`` -> ``"2-4, 7"``."""
    parts: list[str] = []
    start = prev = numbers[0]
    for number in [*numbers[1:], None]:
        if number is not None and number == prev + 1:
            prev = number
            continue
        parts.append(str(start) if start == prev else f"{start}-{prev}")
        if number is not None:
            start = prev = number
    return ", ".join(parts)
