"""From SAP codes to Sincro rows: materials, plants, units and movement types.

- MATNR (zero padding stripped) -> product through ``product_aliases`` (source, code), failing
  that the product whose SKU equals the MATNR. Never guessed: anything else is rejected with
  rule ``unknown_material``.
- WERKS + LGORT -> location through ``location_aliases`` (exact storage location first, then the
  plant's row with an empty storage), then the source's ``plants`` table (``"1000/0001"``, then
  ``"1000"``). Otherwise rule ``unknown_plant``.
- Units: quantities are converted to the base unit with the source's ``units`` table
  (``CX: 10`` = a box is 10 base units). An unknown unit is rule ``unknown_unit``; a quantity that
  is not a whole number of base units is rule ``fractional_quantity``.
- Movement types: ``SHKZG`` gives the sign (S in, H out); ``BWART`` the Sincro reason (see
  :data:`REASONS`). Stock-type transfers inside a plant (321/322, 343/344, 349/350, 453/454)
  move units between on-hand-unrestricted and a blocked bucket; on-hand, which includes
  blocked stock, does not change. They are applied on the receiving line (SHKZG S) only: the
  issuing line of the same transfer posting is counted but has no further effect.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from sincro.catalog import service as catalog
from sincro.connectors.models import LocationAlias, ProductAlias
from sincro.connectors.sap_files.config import SapFilesSource
from sincro.connectors.sap_files.formats import normalize_matnr, to_base_units
from sincro.inventory.schemas import Bucket, Reason

REASONS: dict[str, Reason] = {
    **dict.fromkeys(
        ("101", "102", "103", "105", "501", "502", "561", "562", "651"), Reason.receipt
    ),
    **dict.fromkeys(("251", "252", "601", "602", "641", "643", "653"), Reason.sale),
    **dict.fromkeys(
        ("301", "302", "303", "304", "305", "311", "312", "313", "315"), Reason.transfer
    ),
    **dict.fromkeys(("701", "702", "711", "712"), Reason.physical_count),
}

# BWART -> (bucket, sign on the receiving S line): units enter (+) or leave (-) the bucket.
STOCK_TYPE_MOVES: dict[str, tuple[Bucket, int]] = {
    "322": (Bucket.blocked_quality, +1),  # unrestricted -> quality inspection
    "321": (Bucket.blocked_quality, -1),  # quality inspection -> unrestricted
    "344": (Bucket.blocked_stock, +1),  # unrestricted -> blocked
    "343": (Bucket.blocked_stock, -1),  # blocked -> unrestricted
    "350": (Bucket.blocked_stock, -1),  # blocked -> quality (approximated: leaves blocked)
    "349": (Bucket.blocked_stock, +1),
    "454": (Bucket.blocked_returns, +1),  # unrestricted -> blocked returns
    "453": (Bucket.blocked_returns, -1),  # blocked returns -> unrestricted
}


def reason_for(bwart: str) -> Reason:
    return REASONS.get(bwart, Reason.adjustment)


@dataclass(frozen=True, slots=True)
class Effect:
    """What one goods-movement item does to a stock level (quantity 0: counted, no effect)."""

    bucket: Bucket
    quantity: int
    reason: Reason


def effect_of(bwart: str, shkzg: str, base_quantity: int) -> Effect:
    if bwart in STOCK_TYPE_MOVES:
        bucket, sign = STOCK_TYPE_MOVES[bwart]
        return Effect(bucket, sign * base_quantity if shkzg == "S" else 0, Reason.block)
    sign = 1 if shkzg == "S" else -1
    return Effect(Bucket.on_hand, sign * base_quantity, reason_for(bwart))


class UnknownCode(LookupError):
    def __init__(self, field: str, rule: str, value: str, message: str) -> None:
        super().__init__(message)
        self.field, self.rule, self.value, self.message = field, rule, value, message


class Mapper:
    """Lookup tables of one source, loaded once per file."""

    def __init__(self, session: Session, cfg: SapFilesSource) -> None:
        self.cfg = cfg
        self.products: dict[str, int] = {
            normalize_matnr(sku): pid for sku, pid in catalog.every_product_id(session).items()
        }
        self.products.update(
            {
                normalize_matnr(code): pid
                for code, pid in session.execute(
                    select(ProductAlias.external_code, ProductAlias.product_id).where(
                        ProductAlias.source == cfg.code
                    )
                )
            }
        )
        codes = {c: p.id for c, p in catalog.places_by_code(session, cfg.plants.values()).items()}
        self.locations: dict[tuple[str, str], int] = {}
        for key, code in cfg.plants.items():
            if code in codes:
                plant, _, storage = key.partition("/")
                self.locations[(plant.strip(), storage.strip())] = codes[code]
        for plant, storage, location_id in session.execute(
            select(LocationAlias.plant, LocationAlias.storage, LocationAlias.location_id).where(
                LocationAlias.source == cfg.code
            )
        ):
            self.locations[(plant, storage or "")] = location_id  # aliases win over the config
        self.units = cfg.units

    def product(self, matnr: str) -> int:
        product_id = self.products.get(matnr)
        if product_id is None:
            raise UnknownCode("MATNR", "unknown_material", matnr, f"unknown material {matnr}")
        return product_id

    def location(self, werks: str, lgort: str) -> int:
        location_id = self.locations.get((werks, lgort)) or self.locations.get((werks, ""))
        if location_id is None:
            where = f"{werks}/{lgort}" if lgort else werks
            raise UnknownCode("WERKS", "unknown_plant", where, f"unknown plant {where}")
        return location_id

    def factor(self, unit: str, field: str = "MEINS") -> int:
        if not unit:
            return 1  # SAP lists leave the base unit out when it is the only one
        factor = self.units.get(unit)
        if factor is None:
            raise UnknownCode(field, "unknown_unit", unit, f"unknown unit {unit}")
        return factor

    def base(self, quantity: Decimal, unit: str, field: str = "MEINS") -> int:
        factor = self.factor(unit, field)
        try:
            return to_base_units(quantity, factor)
        except ValueError as exc:
            raise UnknownCode(field, "fractional_quantity", str(quantity), str(exc)) from None
