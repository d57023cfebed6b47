"""Access's API shapes: the audit log as the read API returns it."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, ConfigDict


class AuditEntryOut(BaseModel):
    """One audit entry: who (actor), what (action on entity), when, before and after."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    at: dt.datetime
    actor_kind: str
    actor_id: str | None
    actor_label: str
    action: str
    entity_type: str
    entity_id: str | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    request_id: str | None
    client: str | None


class AuditPage(BaseModel):
    """Entries newest first; ``total`` counts every entry matching the filters."""

    items: list[AuditEntryOut]
    total: int
    offset: int
    limit: int
