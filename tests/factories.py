"""Small factories per domain: make_x(session, **overrides)."""

from __future__ import annotations

import itertools
from typing import Any

from sqlalchemy.orm import Session

from sincro.access import service as access
from sincro.access.models import Role
from sincro.catalog.models import Location, Product
from sincro.catalog.timezones import zone_for
from sincro.inventory import service as inventory
from sincro.inventory.models import Reason
from sincro.inventory.schemas import MovementIn

_seq = itertools.count(1)


def make_location(session: Session, **overrides: Any) -> Location:
    n = next(_seq)
    values: dict[str, Any] = {
        "code": f"LJ{n:04d}",
        "kind": "store",
        "name": f"Loja {n}",
        "city": "São Paulo",
        "state": "SP",
        "latitude": -23.55,
        "longitude": -46.63,
        "ships_online": True,
        "pickup_enabled": True,
        "active": True,
    }
    values.update(overrides)
    values.setdefault("time_zone", zone_for(values["state"], values["city"]))
    location = Location(**values)
    session.add(location)
    session.flush()
    return location


def make_product(session: Session, **overrides: Any) -> Product:
    n = next(_seq)
    values: dict[str, Any] = {
        "sku": f"SKU-{n:05d}",
        "ean": None,
        "name": f"Produto {n}",
        "category": "acessorios",
        "unit": "UN",
    }
    values.update(overrides)
    product = Product(**values)
    session.add(product)
    session.flush()
    return product


def make_key(
    session: Session,
    role: Role = Role.admin,
    locations: tuple[str, ...] = (),
    rate_limit: int | None = None,
) -> str:
    _, plaintext = access.create_key(
        session, f"test-{role.value}-{next(_seq)}", role, list(locations), rate_limit
    )
    return plaintext


def receive(session: Session, sku: str, location: str, qty: int) -> None:
    inventory.apply_movements(
        session,
        "test",
        [MovementIn(sku=sku, location=location, quantity=qty, reason=Reason.receipt)],
    )
