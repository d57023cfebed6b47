"""Fixtures of the SAP file-drop tests: a source with tmp_path folders, a small world of
locations, products and aliases, and helpers to write nasty files and read levels."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select

from sincro.catalog.models import Location, Product
from sincro.connectors.models import LocationAlias, ProductAlias
from sincro.connectors.sap_files import repository as repo
from sincro.connectors.sap_files.config import SapFilesSource
from sincro.db import Database
from sincro.inventory import service as inventory
from sincro.inventory.models import Bucket, Reason, StockLevel
from sincro.inventory.schemas import MovementIn
from tests.factories import make_location, make_product

SP = dt.timezone(dt.timedelta(hours=-3))


def sp(day: int, hour: int, minute: int = 0) -> dt.datetime:
    """A São Paulo wall-clock time in November 2026, as aware UTC."""
    return dt.datetime(2026, 11, day, hour, minute, tzinfo=SP).astimezone(dt.UTC)


@pytest.fixture
def cfg(tmp_path: Path) -> SapFilesSource:
    source = SapFilesSource(
        code="sap-test",
        kind="sap_files",
        name="SAP teste",
        inbox=tmp_path / "inbox",
        outbox=tmp_path / "outbox",
        archive=tmp_path / "archive",
        quarantine=tmp_path / "quarantine",
        plants={"1000": "CD01"},
        units={"UN": 1, "ST": 1, "CX": 10},
        chunk_rows=2,
        snapshot_chunk_rows=2,
        drift_alert_units=100,
    )
    source.ensure_folders()
    return source


@dataclass
class World:
    db: Database
    cfg: SapFilesSource

    def level(self, sku: str, location: str) -> dict[str, int]:
        with self.db.read() as s:
            row = s.execute(
                select(StockLevel)
                .join(Product, Product.id == StockLevel.product_id)
                .join(Location, Location.id == StockLevel.location_id)
                .where(Product.sku == sku, Location.code == location)
            ).scalar_one_or_none()
            if row is None:
                return {"on_hand": 0, "q": 0, "b": 0, "r": 0, "reserved": 0}
            return {
                "on_hand": row.on_hand,
                "q": row.blocked_quality,
                "b": row.blocked_stock,
                "r": row.blocked_returns,
                "reserved": row.reserved,
            }

    def erp_stock(self, sku: str, location: str, qty: int, at: dt.datetime) -> None:
        """Stock the ERP already knows (an ERP movement posted at ``at``)."""
        with self.db.write() as s:
            inventory.apply_movements(
                s,
                self.cfg.movement_source,
                [
                    MovementIn(
                        sku=sku,
                        location=location,
                        quantity=qty,
                        reason=Reason.receipt,
                        bucket=Bucket.on_hand,
                        occurred_at=at,
                    )
                ],
                erp_known=True,
            )

    def verify(self) -> list[dict[str, object]]:
        with self.db.read() as s:
            return inventory.verify(s)


@pytest.fixture
def world(db: Database, cfg: SapFilesSource) -> World:
    with db.write() as s:
        repo.ensure_source(s, cfg)
        cd = make_location(s, code="CD01", kind="dc")
        lj1 = make_location(s, code="LJ0001")
        lj2 = make_location(s, code="LJ0002")
        cel = make_product(s, sku="CEL-000001")
        chp = make_product(s, sku="CHP-000002")
        make_product(s, sku="12345")  # MATNR equal to the SKU: no alias needed
        s.add_all(
            [
                ProductAlias(source=cfg.code, external_code="4711", product_id=cel.id),
                ProductAlias(source=cfg.code, external_code="4712", product_id=chp.id),
                LocationAlias(source=cfg.code, plant="2001", storage="", location_id=lj1.id),
                LocationAlias(source=cfg.code, plant="2002", storage="0001", location_id=lj2.id),
            ]
        )
        assert cd.id
    return World(db, cfg)


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.replace("\n", "\r\n").encode(encoding))
    return path
