"""Access's API: reading the audit log (admin keys)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Query
from starlette.concurrency import run_in_threadpool

from sincro import audit
from sincro.access.schemas import AuditEntryOut, AuditPage
from sincro.deps import AdminKey, Limit, Offset, StateDep

router = APIRouter(prefix="/v1", tags=["audit"])

PATTERN = r"^[\w.:@\- ]*$"


def _text(description: str) -> Any:
    return Query(max_length=160, pattern=PATTERN, description=description)


def _moment(description: str) -> Any:
    return Query(description=description)


@router.get("/audit", summary="The audit log", response_model=AuditPage)
async def read_audit(
    state: StateDep,
    _key: AdminKey,
    actor: Annotated[str | None, _text("`key`, `key:12`, `user:3`, `cli`, `system`")] = None,
    action: Annotated[str | None, _text("`key.create`, or a prefix like `webhook.`")] = None,
    entity: Annotated[str | None, _text("`api_key` or `api_key:5`")] = None,
    since: Annotated[dt.datetime | None, _moment("From (inclusive; UTC if naive)")] = None,
    until: Annotated[dt.datetime | None, _moment("Until (exclusive)")] = None,
    offset: Offset = 0,
    limit: Limit = 50,
) -> AuditPage:
    """Who changed what, when, with before and after (personal data masked), newest first.
    Admin keys only."""
    filters = audit.parse_filter(actor, action, entity, since, until)

    def work() -> AuditPage:
        with state.db.read() as session:
            rows, total = audit.read(session, filters, offset, limit)
            items = [AuditEntryOut.model_validate(row) for row in rows]
        return AuditPage(items=items, total=total, offset=offset, limit=limit)

    return await run_in_threadpool(work)
