"""Goods movements (WMMBXY, as IDoc XML or flat CSV) applied to the ledger.

Each item becomes one inventory movement through :func:`inventory.service.apply_movements`
with ``erp_known=True`` (``erp_known_at`` = when the ERP knew of the posting, see
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

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError
from sqlalchemy import Connection, insert, select, update
from sqlalchemy.orm import Session

from sincro.catalog import service as catalog
from sincro.catalog.models import Product
from sincro.connectors.alerts import raise_alert, resolve_alerts
from sincro.connectors.models import ErpFile, ErpMovementKey
from sincro.connectors.sap_files import idoc
from sincro.connectors.sap_files import repository as repo
from sincro.connectors.sap_files.config import SapFilesSource
from sincro.connectors.sap_files.formats import MovementCsvReader, MovementRow, Reject
from sincro.connectors.sap_files.mapping import Mapper, UnknownCode, effect_of
from sincro.db import utcnow
from sincro.inventory import service as inventory
from sincro.inventory.exceptions import InsufficientStock
from sincro.inventory.schemas import MovementIn

ENTITY = "goods_movements"
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


def validate(cfg: SapFilesSource, path: Path) -> int:
    """Read the whole file once before applying anything (a truncated IDoc must fail whole);
    returns its number of items."""
    if is_xml(path):
        return idoc.validate(path)
    reader = MovementCsvReader(path, cfg.encoding, cfg.decimal_separator, cfg.tz)
    return sum(1 for _ in reader.rows())


def read(cfg: SapFilesSource, path: Path) -> Iterator[MovementRow | Reject]:
    if is_xml(path):
        return idoc.read_items(path, ".", cfg.tz)  # IDoc numbers always use a decimal point
    return MovementCsvReader(path, cfg.encoding, cfg.decimal_separator, cfg.tz).rows()


def apply_file(
    conn: Connection,
    cfg: SapFilesSource,
    file_id: int,
    path: Path,
    run_id: int | None,
    progress: Progress | None = None,
) -> MovementResult:
    total = validate(cfg, path)
    result = MovementResult(records=total)
    with repo.tx(conn) as session:
        erp_file = session.get(ErpFile, file_id)
        assert erp_file is not None
        erp_file.rows_total = total
        start = erp_file.next_line
        mapper = Mapper(session, cfg)
    seen: dict[tuple[str, int], set[int]] = {}
    chunk: list[MovementRow | Reject] = []
    for item in read(cfg, path):
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
    places = catalog.directory(session)
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
    skus = dict(
        session.execute(select(Product.id, Product.sku).where(Product.id.in_(wanted)))
        .tuples()
        .all()
    )
    lines: list[tuple[MovementRow, MovementIn | None]] = []
    for row, product_id, location_id, quantity in mapped:
        effect = effect_of(row.bwart, row.shkzg, quantity)
        if effect.quantity == 0:
            lines.append((row, None))
            continue
        place = (
            places.by_id.get(location_id)
            or catalog.directory(session, need_id=location_id).by_id[location_id]
        )
        try:
            movement = MovementIn(
                sku=skus[product_id],
                location=place.code,
                quantity=effect.quantity,
                reason=effect.reason,
                bucket=effect.bucket,
                occurred_at=row.known_at,
                reference=f"{row.document}/{row.year}/{row.item}",
            )
        except ValidationError as exc:
            message = str(exc.errors()[0]["msg"])
            rejects.append(
                Reject(
                    row.seq, row.line, "ERFMG", "invalid_movement", str(quantity), message, row.key
                )
            )
            continue
        lines.append((row, movement))
    applied_rows = _apply(session, cfg, file_id, lines, rejects)
    now = utcnow()
    if applied_rows:
        session.execute(
            insert(ErpMovementKey),
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
    lines: list[tuple[MovementRow, MovementIn | None]],
    rejects: list[Reject],
) -> list[MovementRow]:
    """All lines at once; when one would take stock below zero, line by line (each in a
    savepoint) so that only the short ones are rejected."""
    movements = [m for _, m in lines if m is not None]
    key = f"sap:{cfg.code}:file:{file_id}"
    if not movements:
        return [row for row, _ in lines]
    try:
        with session.begin_nested():
            inventory.apply_movements(session, cfg.movement_source, movements, key, erp_known=True)
        return [row for row, _ in lines]
    except InsufficientStock:
        pass
    applied = []
    for row, movement in lines:
        if movement is None:
            applied.append(row)
            continue
        try:
            with session.begin_nested():
                inventory.apply_movements(
                    session, cfg.movement_source, [movement], key, erp_known=True
                )
            applied.append(row)
        except InsufficientStock as exc:
            have = exc.details[0].get("available") if exc.details else None
            rejects.append(
                Reject(
                    row.seq,
                    row.line,
                    "ERFMG",
                    "insufficient_stock",
                    str(movement.quantity),
                    f"{movement.bucket.value} would go below zero (has {have})",
                    row.key,
                )
            )
    return applied


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
    gaps: dict[str, list[int]] = {}
    K = ErpMovementKey
    for (document, year), items in sorted(seen.items()):
        known = set(items) | set(
            session.scalars(
                select(K.line).where(K.source == cfg.code, K.document == document, K.year == year)
            )
        )
        missing = sorted(set(range(1, max(known) + 1)) - known)
        dedupe = f"movement_gap:{cfg.code}:{document}/{year}"
        if missing:
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
        else:
            resolve_alerts(session, dedupe)
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
