"""The demo operator's offers: its telecom plans (with how popular each is among customers),
a list price and replenishment attributes per product, and a few promotions. Pure functions of
the product and a seed, shared by the demo loader and the simulated Protheus (SB1, ZPL, ZPR).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from decimal import Decimal

from sincro.demo.catalog import DemoProduct


@dataclass(frozen=True, slots=True)
class DemoPlan:
    code: str
    name: str
    kind: str  # pre | controle | pos | fibra | combo (catalog.models.PlanKind)
    monthly_price: Decimal
    data_gb: int | None  # None: unlimited or not applicable (fibre)
    share: float  # share of the customers on this plan


PLANS: tuple[DemoPlan, ...] = (
    DemoPlan("PRE-RECARGA", "Pré Recarga Semanal", "pre", Decimal("0.00"), 4, 0.17),
    DemoPlan("PRE-MENSAL-15", "Pré Mensal 15 GB", "pre", Decimal("29.99"), 15, 0.13),
    DemoPlan("CTRL-12", "Controle 12 GB", "controle", Decimal("44.99"), 12, 0.14),
    DemoPlan("CTRL-25", "Controle 25 GB", "controle", Decimal("59.99"), 25, 0.16),
    DemoPlan("POS-50", "Pós 50 GB", "pos", Decimal("99.99"), 50, 0.10),
    DemoPlan("POS-100", "Pós 100 GB", "pos", Decimal("149.99"), 100, 0.05),
    DemoPlan("POS-ILIM", "Pós Ilimitado", "pos", Decimal("249.99"), None, 0.02),
    DemoPlan("FIBRA-300", "Fibra 300 Mega", "fibra", Decimal("89.99"), None, 0.10),
    DemoPlan("FIBRA-600", "Fibra 600 Mega", "fibra", Decimal("109.99"), None, 0.07),
    DemoPlan("COMBO-FAMILIA", "Combo Família Pós + Fibra", "combo", Decimal("219.99"), 80, 0.06),
)

# Price ranges per category, in BRL (the smartphone range is wide: entry to premium).
_PRICE_RANGE: dict[str, tuple[int, int]] = {
    "smartphones": (699, 8999),
    "chips": (10, 20),
    "carregadores": (49, 199),
    "cabos": (29, 129),
    "capas": (29, 149),
    "peliculas": (19, 89),
    "fones": (59, 1899),
    "roteadores": (149, 899),
    "smartwatches": (299, 4999),
    "powerbanks": (89, 349),
}
SUPPLIERS: tuple[str, ...] = tuple(f"F{n:05d}" for n in range(1, 41))


def _unit(*parts: object) -> float:
    digest = hashlib.blake2b(repr(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def list_price(product: DemoProduct, seed: int = 7) -> Decimal:
    """A product's list price: in its category's range, ending in ,90 (as retail prices do)."""
    low, high = _PRICE_RANGE.get(product.category, (19, 199))
    whole = low + int(_unit(seed, "price", product.sku) ** 2 * (high - low))
    return Decimal(whole) + Decimal("0.90")


def replenishment(product: DemoProduct, seed: int = 7) -> tuple[int, int, str]:
    """(lead time in days, pack size, supplier code) of a product."""
    x = _unit(seed, "replenishment", product.sku)
    lead = 3 + int(x * 25)  # 3..27 days
    pack = 1 if product.category == "smartphones" else (5, 10, 12, 20, 50)[int(x * 97) % 5]
    supplier = SUPPLIERS[
        int(_unit(seed, "supplier", product.category) * 8 + x * 5) % len(SUPPLIERS)
    ]
    return lead, pack, supplier


@dataclass(frozen=True, slots=True)
class DemoPromotion:
    code: str
    name: str
    sku: str | None
    plan: str | None
    discount_percent: Decimal | None
    promo_price: Decimal | None
    valid_from: dt.date
    valid_to: dt.date | None
    channel: str


def promotions(products: list[DemoProduct], today: dt.date) -> list[DemoPromotion]:
    """A month of promotions around ``today``: two on plans, one per category's first product."""
    start = today.replace(day=1)
    end = (start + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1)
    out = [
        DemoPromotion("PROMO-CTRL25", "Controle 25 GB com 30% off por 3 meses", None, "CTRL-25",
                      Decimal("30"), None, start, end, "todos"),
        DemoPromotion("PROMO-FIBRA600", "Fibra 600 Mega por R$ 89,90", None, "FIBRA-600",
                      None, Decimal("89.90"), start, end, "online"),
    ]  # fmt: skip
    seen: set[str] = set()
    for product in products:
        if product.category in seen:
            continue
        seen.add(product.category)
        out.append(
            DemoPromotion(
                f"PROMO-{product.sku}",
                f"{product.name} com 15% off",
                product.sku,
                None,
                Decimal("15"),
                None,
                start,
                end,
                "loja" if len(seen) % 2 else "todos",
            )
        )
    return out


def plan_for(unit: float) -> DemoPlan:
    """The plan at a point of [0, 1) of the cumulative shares (customers' plan mix)."""
    acc = 0.0
    for plan in PLANS:
        acc += plan.share
        if unit < acc:
            return plan
    return PLANS[-1]
