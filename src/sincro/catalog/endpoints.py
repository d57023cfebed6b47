"""HTTP API for locations and products (reads for every key, writes for admin keys)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from sincro.catalog import service
from sincro.catalog.models import LocationKind
from sincro.catalog.schemas import (
    CODE_PATTERN,
    SKU_PATTERN,
    LocationIn,
    LocationOut,
    Page,
    ProductIn,
    ProductOut,
)
from sincro.deps import AdminKey, CurrentKey, Limit, Offset, StateDep
from sincro.errors import InvalidInput
from sincro.inputs import NO_CONTROL_PATTERN

router = APIRouter(prefix="/v1", tags=["catalog"])


@router.get("/locations", response_model=Page[LocationOut])
def list_locations(
    state: StateDep,
    _key: CurrentKey,
    kind: LocationKind | None = None,
    state_uf: Annotated[str | None, Query(alias="state", pattern=r"^[A-Z]{2}$")] = None,
    offset: Offset = 0,
    limit: Limit = 50,
) -> Page[LocationOut]:
    """Stores and distribution centers, by code."""
    with state.db.read() as session:
        items, total = service.list_locations(
            session, kind=kind.value if kind else None, state=state_uf, offset=offset, limit=limit
        )
    return Page[LocationOut](items=items, total=total, offset=offset, limit=limit)


@router.get("/locations/{code}", response_model=LocationOut)
def get_location(
    code: Annotated[str, Path(pattern=CODE_PATTERN)], state: StateDep, _key: CurrentKey
) -> LocationOut:
    with state.db.read() as session:
        return service.get_location(session, code)


@router.put(
    "/locations/{code}",
    response_model=LocationOut,
    responses={201: {"model": LocationOut, "description": "Created"}},
)
def put_location(
    code: Annotated[str, Path(pattern=CODE_PATTERN)],
    body: LocationIn,
    state: StateDep,
    _key: AdminKey,
    response: Response,
) -> LocationOut:
    """Create or update a location (admin)."""
    if body.code != code:
        raise InvalidInput("code in the body must match the path", field="code")
    location, created = state.run_write(lambda s: service.upsert_location(s, body))
    response.status_code = 201 if created else 200
    return LocationOut.model_validate(location)


@router.get("/products", response_model=Page[ProductOut])
def list_products(
    state: StateDep,
    _key: CurrentKey,
    q: Annotated[str | None, Query(max_length=100, pattern=NO_CONTROL_PATTERN)] = None,
    category: Annotated[str | None, Query(max_length=80, pattern=NO_CONTROL_PATTERN)] = None,
    offset: Offset = 0,
    limit: Limit = 50,
) -> Page[ProductOut]:
    """Products, optionally filtered by text (name, SKU, EAN) or category."""
    with state.db.read() as session:
        items, total = service.list_products(
            session, q=q, category=category, offset=offset, limit=limit
        )
    return Page[ProductOut](items=items, total=total, offset=offset, limit=limit)


@router.get("/products/{sku}", response_model=ProductOut)
def get_product(
    sku: Annotated[str, Path(pattern=SKU_PATTERN)], state: StateDep, _key: CurrentKey
) -> ProductOut:
    with state.db.read() as session:
        return service.get_product(session, sku)


@router.put(
    "/products/{sku}",
    response_model=ProductOut,
    responses={201: {"model": ProductOut, "description": "Created"}},
)
def put_product(
    sku: Annotated[str, Path(pattern=SKU_PATTERN)],
    body: ProductIn,
    state: StateDep,
    _key: AdminKey,
    response: Response,
) -> ProductOut:
    """Create or update a product (admin)."""
    if body.sku != sku:
        raise InvalidInput("sku in the body must match the path", field="sku")
    product, created = state.run_write(lambda s: service.upsert_product(s, body))
    response.status_code = 201 if created else 200
    return ProductOut.model_validate(product)
