"""Write-back to a Protheus-style REST ERP: the sales Sincro took reach the ERP's books.

1. :func:`collect` (one transaction, serialized per source by a row lock on the source):
   on-hand movements with reason ``sale`` that the ERP does not know yet
   (``erp_known_at IS NULL``), at locations aliased to this source and not yet carried by a
   write-back, become one :class:`WriteBack` with a stable id (uuid5 of source and movements).
2. :func:`send`: each due write-back is POSTed with its id as idempotency key (body field and
   ``Idempotency-Key`` header), so a retry after a lost answer books nothing twice. The ERP's
   document number acknowledges it: state ``acknowledged``, ``erp_document``, and the linked
   movements get ``erp_known_at`` = the ERP's posting time (what snapshots replay against).
   Retryable errors wait with backoff; other errors fail the write-back and raise an alert.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from sincro.catalog import service as catalog
from sincro.config import Settings
from sincro.connectors.alerts import raise_alert
from sincro.connectors.config import ConnectorsConfig
from sincro.connectors.models import (
    LocationAlias,
    ProductAlias,
    WriteBack,
    WriteBackMovement,
    WriteBackState,
)
from sincro.connectors.orchestrator import SourceRuntime, ensure_source
from sincro.connectors.rest.client import Deadline, SyncError
from sincro.db import Database, utcnow
from sincro.inventory import service as inventory
from sincro.inventory.schemas import Reason

NAMESPACE = uuid.UUID("0d5c7a4e-5b1f-4c1e-9a51-3b7f0c2f6a10")
BATCH = 200


@dataclass
class WriteBackReport:
    created: list[str] = field(default_factory=list)
    acknowledged: list[str] = field(default_factory=list)
    retrying: dict[str, str] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)


def collect(session: Session, source: object, batch: int = BATCH) -> list[str]:
    """Turn unacknowledged Sincro sales at this source's locations into write-backs."""
    code = source.code  # type: ignore[attr-defined]
    ensure_source(session, source)
    from sincro.connectors.models import SyncSource

    session.get(SyncSource, code, with_for_update=True)  # one collector per source at a time
    plants: dict[int, tuple[str, str]] = {}
    for location_id, plant, storage in session.execute(
        select(LocationAlias.location_id, LocationAlias.plant, LocationAlias.storage)
        .where(LocationAlias.source == code)
        .order_by(LocationAlias.plant, LocationAlias.storage)
    ):
        plants.setdefault(location_id, (plant, storage))
    if not plants:
        return []
    rows = inventory.movements_for_writeback(
        session, list(plants), select(WriteBackMovement.movement_id), reasons=[Reason.sale.value]
    )
    codes = _product_codes(session, code, {r.product_id for r in rows})
    storage_default = getattr(source, "writeback_storage", "01")
    created = []
    for start in range(0, len(rows), batch):
        chunk = rows[start : start + batch]
        ids = [r.id for r in chunk]
        wb_id = str(uuid.uuid5(NAMESPACE, f"{code}:{','.join(map(str, ids))}"))
        lines = [
            {
                "B2_FILIAL": plants[r.location_id][0],
                "B2_COD": codes[r.product_id],
                "B2_LOCAL": plants[r.location_id][1] or storage_default,
                "quantity": r.quantity,
                "reference": f"sincro:{r.id}",
            }
            for r in chunk
        ]
        session.add(
            WriteBack(
                id=wb_id,
                source=code,
                kind="goods_movement",
                reference=f"movements {ids[0]}..{ids[-1]}",
                payload={"idempotency_key": wb_id, "movements": lines},
                state=WriteBackState.pending,
                next_attempt_at=utcnow(),
                created_at=utcnow(),
            )
        )
        session.flush()
        session.add_all(WriteBackMovement(writeback_id=wb_id, movement_id=i) for i in ids)
        created.append(wb_id)
    session.flush()
    return created


def _product_codes(session: Session, source: str, product_ids: set[int]) -> dict[int, str]:
    """The ERP's code of each product: its alias for this source, else Sincro's SKU."""
    if not product_ids:
        return {}
    codes = catalog.skus_by_id(session, product_ids)
    for product_id, external in session.execute(
        select(ProductAlias.product_id, ProductAlias.external_code).where(
            ProductAlias.source == source, ProductAlias.product_id.in_(product_ids)
        )
    ):
        codes[product_id] = external
    return codes


def _backoff(attempts: int) -> dt.timedelta:
    return dt.timedelta(seconds=min(600, 5 * 2 ** max(0, attempts - 1)))


def send(rt: SourceRuntime, report: WriteBackReport) -> None:
    """POST every due write-back of the source once."""
    path = getattr(rt.source, "writeback_path", None)
    if not path:
        return
    db: Database = rt.db
    now = utcnow()
    with db.read() as session:
        due = session.scalars(
            select(WriteBack)
            .where(
                WriteBack.source == rt.source.code,
                WriteBack.state.in_([WriteBackState.pending, WriteBackState.sent]),
                WriteBack.next_attempt_at <= now,
            )
            .order_by(WriteBack.created_at)
        ).all()
    for wb in due:
        with db.write() as session:
            row = session.get(WriteBack, wb.id)
            assert row is not None
            row.state, row.sent_at, row.attempts = WriteBackState.sent, utcnow(), row.attempts + 1
            attempts = row.attempts
        try:
            answer = rt.client.post_json(
                path,
                wb.payload,
                Deadline(rt.source.timeout_seconds * rt.source.retry.max_attempts + 5),
                headers={"Idempotency-Key": wb.id},
            )
            document, posted_at = _acknowledgement(answer)
        except SyncError as exc:
            _failed(db, wb.id, attempts, exc, report)
            continue
        _acknowledge(db, wb.id, document, posted_at)
        report.acknowledged.append(wb.id)


def _acknowledgement(answer: object) -> tuple[str, dt.datetime]:
    if not isinstance(answer, dict) or not answer.get("document"):
        raise SyncError("bad_payload", "write-back answer has no document number")
    try:
        posted = dt.datetime.fromisoformat(str(answer.get("posted_at")).replace("Z", "+00:00"))
    except ValueError:
        raise SyncError("bad_payload", "write-back answer has no valid posted_at") from None
    posted = posted if posted.tzinfo else posted.replace(tzinfo=dt.UTC)
    return str(answer["document"])[:40], posted


def _acknowledge(db: Database, wb_id: str, document: str, posted_at: dt.datetime) -> None:
    with db.write() as session:
        row = session.get(WriteBack, wb_id)
        assert row is not None
        row.state, row.erp_document, row.acknowledged_at = (
            WriteBackState.acknowledged,
            document,
            utcnow(),
        )
        row.last_error = None
        carried = select(WriteBackMovement.movement_id).where(
            WriteBackMovement.writeback_id == wb_id
        )
        inventory.mark_erp_known(session, carried, posted_at)


def _failed(
    db: Database, wb_id: str, attempts: int, exc: SyncError, report: WriteBackReport
) -> None:
    with db.write() as session:
        row = session.get(WriteBack, wb_id)
        assert row is not None
        row.last_error = str(exc)[:2000]
        if exc.retryable or exc.kind in ("breaker_open", "budget_exhausted"):
            row.state, row.next_attempt_at = WriteBackState.pending, utcnow() + _backoff(attempts)
            report.retrying[wb_id] = str(exc)
            return
        row.state = WriteBackState.failed
        report.failed[wb_id] = str(exc)
        raise_alert(
            session,
            "writeback_failed",
            f"Origem {row.source}: o ERP recusou o envio {wb_id} ({exc.kind}); "
            "verifique o lote e reenvie.",
            source=row.source,
            severity="critical",
            details={"writeback": wb_id, "error": exc.kind},
            dedupe_key=f"writeback_failed:{wb_id}",
        )


def run_writeback(
    settings: Settings, config: ConnectorsConfig, source_code: str, db: Database | None = None
) -> WriteBackReport:
    """Collect new write-backs of a REST source and send the due ones."""
    report = WriteBackReport()
    with SourceRuntime(settings, config, source_code, db) as rt:
        with rt.db.write() as session:
            report.created = collect(session, rt.source)
        send(rt, report)
    return report
