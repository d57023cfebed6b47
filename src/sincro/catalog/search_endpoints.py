"""HTTP API for searching product documents and products (customer service)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/v1", tags=["search"])
