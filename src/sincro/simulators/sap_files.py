"""A simulated SAP ECC for the demo and the tests: it drops MB52 snapshots and WMMBXY goods
movements into a source's inbox and answers Sincro's write-backs with acknowledgements.

- Materials and plants are real: they come from the database through the source's aliases
  (:func:`ensure_demo_aliases` creates them: numeric MATNR from 100001 <-> SKU, plants
  ``1000``.. for DCs ``CD01``.., ``2001``.. for stores ``LJ0001``..).
- Files are written the way the source's readiness strategy expects: ``rename`` writes
  ``.<name>.tmp`` then renames, ``done_file`` writes the file then ``<name>.done``, ``stable``
  just writes. Large files are written in chunks over ``slow_seconds``.
- The ERP's view of stock at snapshot time is Sincro's on-hand minus what the ERP does not know
  yet (``erp_known_at`` NULL), with a little drift on a few positions, so a snapshot is
  realistic without a second inventory model.
- Faults (:class:`Faults`, probabilities per file): duplicated files, an older snapshot after
  a newer one, bad rows, Latin-1 encoding, an unparseable file, a gap in a document's items.
- Deterministic for a seed (names, quantities, faults); only wall-clock times vary.
"""

from __future__ import annotations

import datetime as dt
import io
import os
import random
import re
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from sincro.catalog.models import Location, Product
from sincro.connectors.models import LocationAlias, ProductAlias
from sincro.connectors.sap_files import idoc
from sincro.connectors.sap_files.config import SapFilesSource
from sincro.connectors.sap_files.formats import format_quantity, pad_matnr, write_rows
from sincro.db import Database, utcnow
from sincro.inventory import service as inventory, snapshots

PT_HEADER = [
    "Material",
    "Centro",
    "Depósito",
    "Utilização livre",
    "Em controle de qualidade",
    "Estoque bloqueado",
    "Devoluções bloqueadas",
    "Em trânsito",
    "UMB",
]
SAP_HEADER = ["MATNR", "WERKS", "LGORT", "LABST", "INSME", "SPEME", "RETME", "UMLME", "MEINS"]
MOVEMENT_HEADER = [
    "MBLNR",
    "MJAHR",
    "ZEILE",
    "BWART",
    "MATNR",
    "WERKS",
    "LGORT",
    "SHKZG",
    "ERFMG",
    "ERFME",
    "BUDAT",
    "CPUDT",
    "CPUTM",
]

Position = tuple[str, str, str, int, int, int, int, int]  # MATNR, WERKS, LGORT, LABST..UMLME


@dataclass
class Faults:
    duplicate: float = 0.0
    out_of_order: float = 0.0
    bad_rows: float = 0.0  # share of rows damaged in a file that gets bad rows
    latin1: float = 0.0
    unparseable: float = 0.0
    gap: float = 0.0

    @classmethod
    def parse(cls, text: str) -> Faults:
        """``"duplicate=0.2,latin1=1"`` or ``"all"`` (every fault now and then)."""
        if text.strip() == "all":
            return cls(0.2, 0.2, 0.01, 0.3, 0.05, 0.1)
        faults = cls()
        for part in filter(None, (p.strip() for p in text.split(","))):
            name, _, value = part.partition("=")
            if not hasattr(faults, name):
                raise ValueError(f"unknown fault {name!r}")
            setattr(faults, name, float(value or 1))
        return faults


# --- aliases -----------------------------------------------------------------------------------


def ensure_demo_aliases(session: Session, source_code: str) -> tuple[int, int]:
    """Give every product a numeric MATNR and every location a plant for ``source_code``
    (existing aliases are kept). Returns (products added, locations added)."""
    has_product = set(
        session.scalars(select(ProductAlias.product_id).where(ProductAlias.source == source_code))
    )
    used_codes = {
        int(c)
        for c in session.scalars(
            select(ProductAlias.external_code).where(ProductAlias.source == source_code)
        )
        if c.isdigit()
    }
    next_code = max([100000, *used_codes]) + 1
    added_products = 0
    for product_id in session.scalars(select(Product.id).order_by(Product.id)):
        if product_id in has_product:
            continue
        session.add(
            ProductAlias(
                source=source_code, external_code=str(next_code), product_id=product_id, unit="UN"
            )
        )
        next_code += 1
        added_products += 1
    aliased = set(
        session.scalars(
            select(LocationAlias.location_id).where(LocationAlias.source == source_code)
        )
    )
    plants = set(
        session.scalars(select(LocationAlias.plant).where(LocationAlias.source == source_code))
    )
    added_locations = 0
    for location_id, code, kind in session.execute(
        select(Location.id, Location.code, Location.kind).order_by(Location.code)
    ):
        if location_id in aliased:
            continue
        plant = _plant_for(code, kind, plants)
        plants.add(plant)
        session.add(
            LocationAlias(source=source_code, plant=plant, storage="", location_id=location_id)
        )
        added_locations += 1
    session.flush()
    return added_products, added_locations


def _plant_for(code: str, kind: str, used: set[str]) -> str:
    if (m := re.fullmatch(r"CD(\d{2})", code)) and str(999 + int(m[1])) not in used:
        return str(999 + int(m[1]))  # CD01 -> 1000
    if (
        (m := re.fullmatch(r"LJ(\d{4})", code))
        and int(m[1]) < 8000
        and str(2000 + int(m[1])) not in used
    ):
        return str(2000 + int(m[1]))  # LJ0001 -> 2001
    start = 1100 if kind == "dc" else 9000
    candidate = start
    while str(candidate) in used:
        candidate += 1
    return str(candidate)


# --- file contents -------------------------------------------------------------------------


def snapshot_text(
    positions: Iterable[Position],
    as_of_local: dt.datetime,
    *,
    header: str = "ptbr",
    bad_rows: float = 0.0,
    rng: random.Random | None = None,
) -> str:
    """An MB52-style list export: a title, a ``Data:`` line, the header, then the rows."""
    rng = rng or random.Random(0)
    out = io.StringIO()
    out.write("Lista de estoques em depósito\r\n")
    out.write(f"Data: {as_of_local:%d.%m.%Y %H:%M:%S}\r\n\r\n")
    rows = []
    for matnr, werks, lgort, labst, insme, speme, retme, umlme in positions:
        row = [
            pad_matnr(matnr),
            werks,
            lgort,
            *[format_quantity(v) for v in (labst, insme, speme, retme, umlme)],
            "UN",
        ]
        if bad_rows and rng.random() < bad_rows:
            row[3 + rng.randrange(3)] = rng.choice(["12x,5", "abc", "1,2,3"])
        rows.append(row)
    write_rows(out, PT_HEADER if header == "ptbr" else SAP_HEADER, rows)
    return out.getvalue()


@dataclass(frozen=True, slots=True)
class SimMovement:
    matnr: str
    werks: str
    lgort: str
    bwart: str
    shkzg: str
    quantity: int


Document = tuple[str, list[tuple[int, SimMovement]]]  # MBLNR, numbered items


def movements_idoc(documents: list[Document], posted_local: dt.datetime, docnum: int) -> str:
    """One WMMBID02 IDoc per material document."""
    return idoc.render(
        [
            idoc.IdocDocument(
                docnum=str(docnum + n),
                sender="ECCCLNT100",
                receiver="SINCRO",
                created=posted_local,
                budat=posted_local.strftime("%Y%m%d"),
                cputm=posted_local.strftime("%H%M%S"),
                items=[
                    idoc.IdocItem(
                        pad_matnr(m.matnr),
                        m.werks,
                        m.lgort,
                        m.bwart,
                        m.shkzg,
                        format_quantity(m.quantity, "."),
                        "ST",
                        mblnr,
                        str(posted_local.year),
                        f"{i:04d}",
                    )
                    for i, m in items
                ],
            )
            for n, (mblnr, items) in enumerate(documents)
        ]
    )


def movements_csv(documents: list[Document], posted_local: dt.datetime) -> str:
    """The flat equivalent: one ``;`` row per item."""
    out = io.StringIO()
    day, clock = posted_local.strftime("%Y%m%d"), posted_local.strftime("%H%M%S")
    rows = [
        [
            mblnr,
            str(posted_local.year),
            f"{i:04d}",
            m.bwart,
            pad_matnr(m.matnr),
            m.werks,
            m.lgort,
            m.shkzg,
            format_quantity(m.quantity),
            "UN",
            day,
            day,
            clock,
        ]
        for mblnr, items in documents
        for i, m in items
    ]
    write_rows(out, MOVEMENT_HEADER, rows)
    return out.getvalue()


def ack_text(rows: list[tuple[str, str, dt.datetime, str]]) -> str:
    """(write-back id, MBLNR, posted local time, status) rows."""
    out = io.StringIO()
    write_rows(
        out,
        ["WRITEBACK_ID", "MBLNR", "MJAHR", "BUDAT", "CPUTM", "STATUS"],
        [
            [wb, mblnr, str(at.year), at.strftime("%Y%m%d"), at.strftime("%H%M%S"), status]
            for wb, mblnr, at, status in rows
        ],
    )
    return out.getvalue()


# --- dropping files ------------------------------------------------------------------------------


def drop(
    cfg: SapFilesSource, name: str, content: bytes, *, slow_seconds: float = 0.0, chunks: int = 8
) -> Path:
    """Write ``content`` as ``inbox/name`` the way the source's readiness strategy expects."""
    final = cfg.inbox / name
    strategy = cfg.readiness.strategy
    target = cfg.inbox / f".{name}.tmp" if strategy == "rename" else final
    size = max(1, -(-len(content) // max(1, chunks)))
    with target.open("wb") as stream:
        for offset in range(0, len(content), size):
            stream.write(content[offset : offset + size])
            stream.flush()
            if slow_seconds:
                time.sleep(slow_seconds / chunks)
        os.fsync(stream.fileno())
    if strategy == "rename":
        os.replace(target, final)
    elif strategy == "done_file":
        final.with_name(name + ".done").touch()
    return final


STOCKED_REFRESH_SECONDS = 30.0

# --- the ERP ------------------------------------------------------------------------------


@dataclass
class SapWriter:
    cfg: SapFilesSource
    db: Database
    seed: int = 7
    faults: Faults = field(default_factory=Faults)
    plants_per_snapshot: int = 20
    rng: random.Random = field(init=False)
    next_mblnr: int = 4_900_000_001
    next_docnum: int = 1
    files: int = 0
    last_snapshot: tuple[str, bytes] | None = None
    answered: set[str] = field(default_factory=set)
    stocked: list[tuple[int, int]] = field(default_factory=list)
    stocked_at: float | None = None
    # the reorder policy (s, S): a level at or below ``reorder_point`` gets a purchase order
    # up to ``order_up_to`` that arrives ``lead_time_seconds`` later as a 101 receipt
    reorder_point: int = 2
    order_up_to: int = 12
    lead_time_seconds: float = 120.0
    on_order: dict[tuple[int, int], tuple[float, int]] = field(default_factory=dict)
    reviewed_at: float | None = None

    def __post_init__(self) -> None:
        self.rng = random.Random(f"sap-sim-{self.seed}")
        with self.db.write() as session:
            ensure_demo_aliases(session, self.cfg.code)
            self.materials = dict(
                session.execute(
                    select(ProductAlias.product_id, ProductAlias.external_code).where(
                        ProductAlias.source == self.cfg.code
                    )
                )
                .tuples()
                .all()
            )
            self.plants = dict(
                session.execute(
                    select(LocationAlias.location_id, LocationAlias.plant).where(
                        LocationAlias.source == self.cfg.code
                    )
                )
                .tuples()
                .all()
            )
        self.cfg.ensure_folders()

    def now_local(self) -> dt.datetime:
        return utcnow().astimezone(self.cfg.tz).replace(microsecond=0)

    def _name(self, prefix: str, at: dt.datetime, ext: str) -> str:
        self.files += 1
        return f"{prefix}_{at:%Y%m%d_%H%M%S}_{self.files:05d}.{ext}"

    def _encode(self, content: str) -> bytes:
        if self.faults.latin1 and self.rng.random() < self.faults.latin1:
            return content.encode("latin-1", errors="replace")
        return (
            b"\xef\xbb\xbf" + content.encode("utf-8")
            if self.rng.random() < 0.5
            else content.encode("utf-8")
        )

    def _drop(self, name: str, content: bytes, slow_seconds: float = 0.0) -> list[Path]:
        paths = [drop(self.cfg, name, content, slow_seconds=slow_seconds)]
        if self.faults.duplicate and self.rng.random() < self.faults.duplicate:
            time.sleep(0.05)
            paths.append(drop(self.cfg, "DUP_" + name, content))
        return paths

    def erp_positions(self, plants: int | None = None) -> list[Position]:
        """What SAP would list: Sincro's levels minus what SAP does not know yet, some drift."""
        with self.db.read() as session:
            location_ids = sorted(self.plants)
            if plants is not None and len(location_ids) > plants:
                location_ids = sorted(self.rng.sample(location_ids, plants))
            pending = snapshots.on_hand_unknown_to_erp(session, utcnow(), location_ids)
            levels = inventory.stock_positions(session, location_ids)
        out: list[Position] = []
        for level in levels:
            if level.product_id not in self.materials:
                continue
            q, b, r = level.blocked_quality, level.blocked_stock, level.blocked_returns
            key = (level.product_id, level.location_id)
            known = max(0, level.on_hand - pending.get(key, 0))
            if self.rng.random() < 0.01:
                known = max(0, known + self.rng.randint(-3, 3))
            labst = max(0, known - q - b - r)
            out.append(
                (
                    self.materials[level.product_id],
                    self.plants[level.location_id],
                    "0001",
                    labst,
                    q,
                    b,
                    r,
                    0,
                )
            )
        return out

    def drop_snapshot(self, plants: int | None = None, slow_seconds: float = 0.0) -> list[Path]:
        at = self.now_local()
        content = snapshot_text(
            self.erp_positions(plants if plants is not None else self.plants_per_snapshot),
            at,
            header=self.rng.choice(["ptbr", "sap"]),
            bad_rows=self.faults.bad_rows,
            rng=self.rng,
        )
        name = f"MB52_{at:%Y%m%d_%H%M%S}.csv"
        encoded = self._encode(content)
        paths = self._drop(name, encoded, slow_seconds)
        if (
            self.last_snapshot
            and self.faults.out_of_order
            and self.rng.random() < self.faults.out_of_order
        ):
            old_name, old_content = self.last_snapshot
            paths += self._drop("LATE_" + old_name, old_content)
        self.last_snapshot = (name, encoded)
        return paths

    def review_stock(self, now: float | None = None) -> int:
        """The periodic review of the reorder policy: order what fell to the reorder point
        (not already on order); returns the purchase orders placed."""
        now = time.monotonic() if now is None else now
        if self.reviewed_at is not None and now - self.reviewed_at < STOCKED_REFRESH_SECONDS:
            return 0
        self.reviewed_at = now
        with self.db.read() as session:
            low = inventory.stock_positions(
                session, sorted(self.plants), max_on_hand=self.reorder_point, limit=500
            )
        placed = 0
        for level in low:
            key = (level.product_id, level.location_id)
            if level.product_id not in self.materials or key in self.on_order:
                continue
            self.on_order[key] = (now + self.lead_time_seconds, self.order_up_to - level.on_hand)
            placed += 1
        return placed

    def arrived(self, now: float | None = None) -> list[tuple[int, int, int]]:
        """Purchase orders whose lead time has passed: (product, location, quantity)."""
        now = time.monotonic() if now is None else now
        due = [(key, qty) for key, (at, qty) in self.on_order.items() if at <= now]
        for key, _ in due:
            del self.on_order[key]
        return [(p, loc, qty) for (p, loc), qty in due]

    def drop_movements(self, documents: int = 3, items: int = 4) -> list[Path]:
        """A file of goods movements: store sales (251) and the receipts (101) of purchase
        orders whose lead time has passed (the reorder policy of :meth:`review_stock`)."""
        at = self.now_local()
        stocked = self._stocked()
        self.review_stock()
        receipts = self.arrived()
        docs: list[Document] = []
        for _ in range(documents):
            lines: list[tuple[int, SimMovement]] = []
            for _ in range(items):
                if receipts:
                    p, loc, qty = receipts.pop()
                    move = SimMovement(self.materials[p], self.plants[loc], "0001", "101", "S", qty)
                elif stocked and self.rng.random() < 0.6:
                    p, loc = self.rng.choice(stocked)
                    move = SimMovement(self.materials[p], self.plants[loc], "0001", "251", "H", 1)
                else:
                    continue
                lines.append((len(lines) + 1, move))
            if not lines:
                continue
            if len(lines) > 2 and self.faults.gap and self.rng.random() < self.faults.gap:
                del lines[1]  # item 2 never arrives: a hole in the document's numbering
            docs.append((str(self.next_mblnr), lines))
            self.next_mblnr += 1
        for p, loc, qty in receipts:  # more arrived than one file holds: in the next one
            self.on_order[(p, loc)] = (0.0, qty)
        if not docs:
            return []
        if self.faults.unparseable and self.rng.random() < self.faults.unparseable:
            return self._drop(self._name("WMMBXY", at, "xml"), b"<WMMBID02><IDOC><EDI_DC40>cut")
        if self.rng.random() < 0.5:
            content = movements_idoc(docs, at, self.next_docnum).encode("utf-8")
            self.next_docnum += len(docs)
            return self._drop(self._name("WMMBXY", at, "xml"), content)
        return self._drop(self._name("WMMBXY", at, "csv"), self._encode(movements_csv(docs, at)))

    def _stocked(self) -> list[tuple[int, int]]:
        """(product, location) pairs with stock to sell from, read again every
        ``STOCKED_REFRESH_SECONDS`` rather than on every tick (a query over every plant each
        second was most of the simulator's CPU)."""
        now = time.monotonic()
        if self.stocked_at is None or now - self.stocked_at >= STOCKED_REFRESH_SECONDS:
            with self.db.read() as session:
                found = inventory.stock_positions(
                    session, sorted(self.plants), min_on_hand=6, limit=2000
                )
            self.stocked = [
                (f.product_id, f.location_id) for f in found if f.product_id in self.materials
            ]
            self.stocked_at = now
        return self.stocked

    def answer_writebacks(self) -> list[Path]:
        """Read Sincro's outbound WMMBXY files, post them, drop one acknowledgement each."""
        out = []
        for path in sorted(self.cfg.outbox.glob("SINCRO_WMMBXY_*")):
            if path.name.startswith("."):
                continue
            wb_id = path.stem.removeprefix("SINCRO_WMMBXY_")
            at = self.now_local()
            if wb_id not in self.answered:  # the ERP dedupes re-sent ids
                mblnr = str(self.next_mblnr)
                self.next_mblnr += 1
                self.answered.add(wb_id)
                content = ack_text([(wb_id, mblnr, at, "OK")]).encode("utf-8")
                out += self._drop(self._name("ACK", at, "csv"), content)
            done = self.cfg.outbox / "processed"
            done.mkdir(exist_ok=True)
            os.replace(path, done / path.name)
        return out


def run_sap_writer(
    source_config: SapFilesSource,
    stop_event: threading.Event,
    rate: float = 1.0,
    faults: Faults | None = None,
    *,
    seed: int = 7,
    db: Database | None = None,
    snapshot_every: int = 10,
    plants_per_snapshot: int = 20,
    max_ticks: int | None = None,
    slow_seconds: float = 0.0,
) -> SapWriter:
    """Play SAP until ``stop_event``: ``rate`` movement files per second, a snapshot every
    ``snapshot_every`` ticks (written over ``slow_seconds``), acknowledgements for every
    write-back found in the outbox."""
    if db is None:
        from sincro.db import get_database

        db = get_database()
    writer = SapWriter(
        source_config,
        db,
        seed=seed,
        faults=faults or Faults(),
        plants_per_snapshot=plants_per_snapshot,
    )
    tick = 0
    while not stop_event.is_set() and (max_ticks is None or tick < max_ticks):
        writer.answer_writebacks()
        writer.drop_movements()
        if tick % snapshot_every == snapshot_every - 1:
            writer.drop_snapshot(slow_seconds=slow_seconds)
        tick += 1
        stop_event.wait(1.0 / rate)
    return writer


def count_aliases(session: Session, source_code: str) -> tuple[int, int]:
    products = session.scalar(
        select(func.count()).select_from(ProductAlias).where(ProductAlias.source == source_code)
    )
    locations = session.scalar(
        select(func.count()).select_from(LocationAlias).where(LocationAlias.source == source_code)
    )
    return int(products or 0), int(locations or 0)
