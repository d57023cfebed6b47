"""HTTP API of the ERP sync (sources, runs, file ledger, rejects, replays, reports)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/v1/sync", tags=["sync"])
