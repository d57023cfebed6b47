"""HTTP API for the catalog's offers: prices per product and period, telecom plans and
promotions (reads for every key, writes for admin keys)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response

from sincro.catalog import service
from sincro.catalog.models import PlanKind
from sincro.catalog.schemas import (
    CODE_PATTERN,
    SKU_PATTERN,
    Page,
    PlanIn,
    PlanOut,
    PriceIn,
    PriceOut,
    PromotionIn,
    PromotionOut,
)
from sincro.deps import AdminKey, CurrentKey, Limit, Offset, StateDep
from sincro.errors import InvalidInput

router = APIRouter(prefix="/v1", tags=["offers"])

Sku = Annotated[str, Path(pattern=SKU_PATTERN)]
Code = Annotated[str, Path(pattern=CODE_PATTERN)]
Day = Annotated[dt.date, Path(description="First day of the price (aaaa-mm-dd)")]
# Dates the API accepts (a date column holds years 1..9999, but nobody prices in year 1).
FIRST_DAY, LAST_DAY = dt.date(2000, 1, 1), dt.date(2199, 12, 31)


def _in_range(value: dt.date | None, field: str) -> None:
    if value is not None and not FIRST_DAY <= value <= LAST_DAY:
        raise InvalidInput(f"{field} must be between 2000-01-01 and 2199-12-31", field=field)


@router.get("/prices", response_model=Page[PriceOut])
def list_prices(
    state: StateDep,
    _key: CurrentKey,
    sku: Annotated[str | None, Query(pattern=SKU_PATTERN)] = None,
    on: Annotated[dt.date | None, Query(description="Only prices in force that day")] = None,
    offset: Offset = 0,
    limit: Limit = 50,
) -> Page[PriceOut]:
    """Prices by SKU, newest period first."""
    with state.db.read() as session:
        items, total = service.list_prices(session, sku=sku, on=on, offset=offset, limit=limit)
    return Page[PriceOut](items=items, total=total, offset=offset, limit=limit)


@router.put(
    "/products/{sku}/prices/{valid_from}",
    response_model=PriceOut,
    responses={201: {"model": PriceOut, "description": "Created"}},
)
def put_price(
    sku: Sku,
    valid_from: Day,
    body: PriceIn,
    state: StateDep,
    key: AdminKey,
    request: Request,
    response: Response,
) -> PriceOut:
    """Create or replace the price of a product starting on a day (admin)."""
    if body.valid_from != valid_from:
        raise InvalidInput("valid_from in the body must match the path", field="valid_from")
    _in_range(body.valid_from, "valid_from")
    _in_range(body.valid_to, "valid_to")
    actor = key.actor(request)
    price, created = state.run_write(lambda s: service.upsert_price(s, sku, body, actor=actor))
    response.status_code = 201 if created else 200
    return price


@router.delete("/products/{sku}/prices/{valid_from}", status_code=204)
def delete_price(
    sku: Sku, valid_from: Day, state: StateDep, key: AdminKey, request: Request
) -> Response:
    """Remove the price of a product that starts on a day (admin)."""
    actor = key.actor(request)
    state.run_write(lambda s: service.delete_price(s, sku, valid_from, actor=actor))
    return Response(status_code=204)


@router.get("/plans", response_model=Page[PlanOut])
def list_plans(
    state: StateDep,
    _key: CurrentKey,
    kind: PlanKind | None = None,
    active: bool | None = None,
    offset: Offset = 0,
    limit: Limit = 50,
) -> Page[PlanOut]:
    """Telecom plans by kind, then monthly price."""
    with state.db.read() as session:
        items, total = service.list_plans(
            session, kind=kind.value if kind else None, active=active, offset=offset, limit=limit
        )
    return Page[PlanOut](items=items, total=total, offset=offset, limit=limit)


@router.get("/plans/{code}", response_model=PlanOut)
def get_plan(code: Code, state: StateDep, _key: CurrentKey) -> PlanOut:
    with state.db.read() as session:
        return service.get_plan(session, code)


@router.put(
    "/plans/{code}",
    response_model=PlanOut,
    responses={201: {"model": PlanOut, "description": "Created"}},
)
def put_plan(
    code: Code,
    body: PlanIn,
    state: StateDep,
    key: AdminKey,
    request: Request,
    response: Response,
) -> PlanOut:
    """Create or update a telecom plan (admin)."""
    if body.code != code:
        raise InvalidInput("code in the body must match the path", field="code")
    actor = key.actor(request)
    plan, created = state.run_write(lambda s: service.upsert_plan(s, body, actor=actor))
    response.status_code = 201 if created else 200
    return plan


@router.get("/promotions", response_model=Page[PromotionOut])
def list_promotions(
    state: StateDep,
    _key: CurrentKey,
    active_on: Annotated[
        dt.date | None, Query(description="Only active promotions in force that day")
    ] = None,
    sku: Annotated[str | None, Query(pattern=SKU_PATTERN)] = None,
    plan: Annotated[str | None, Query(pattern=CODE_PATTERN)] = None,
    offset: Offset = 0,
    limit: Limit = 50,
) -> Page[PromotionOut]:
    """Promotions, newest start first."""
    with state.db.read() as session:
        items, total = service.list_promotions(
            session, active_on=active_on, sku=sku, plan=plan, offset=offset, limit=limit
        )
    return Page[PromotionOut](items=items, total=total, offset=offset, limit=limit)


@router.get("/promotions/{code}", response_model=PromotionOut)
def get_promotion(code: Code, state: StateDep, _key: CurrentKey) -> PromotionOut:
    with state.db.read() as session:
        return service.get_promotion(session, code)


@router.put(
    "/promotions/{code}",
    response_model=PromotionOut,
    responses={201: {"model": PromotionOut, "description": "Created"}},
)
def put_promotion(
    code: Code,
    body: PromotionIn,
    state: StateDep,
    key: AdminKey,
    request: Request,
    response: Response,
) -> PromotionOut:
    """Create or update a promotion on a product or a plan (admin)."""
    if body.code != code:
        raise InvalidInput("code in the body must match the path", field="code")
    _in_range(body.valid_from, "valid_from")
    _in_range(body.valid_to, "valid_to")
    actor = key.actor(request)
    promotion, created = state.run_write(lambda s: service.upsert_promotion(s, body, actor=actor))
    response.status_code = 201 if created else 200
    return promotion


@router.delete("/promotions/{code}", status_code=204)
def delete_promotion(code: Code, state: StateDep, key: AdminKey, request: Request) -> Response:
    """Remove a promotion (admin)."""
    actor = key.actor(request)
    state.run_write(lambda s: service.delete_promotion(s, code, actor=actor))
    return Response(status_code=204)
