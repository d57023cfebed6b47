"""Replenishment advice per SKU x location from the live location-level forecast.

For each SKU the location's promoted run forecasts:

- **lead time** L (the product's, SB1 ``B1_PE``; else ``SINCRO_FORECASTING_DEFAULT_LEAD_TIME_DAYS``)
  and **review period** R (``SINCRO_FORECASTING_REVIEW_DAYS``: how often orders are placed);
- the distribution of TOTAL demand over L and over L+R drawn as whole sample paths (the
  forecast plus whole backtest error paths of the series' pattern, scaled: see
  :func:`sincro.forecasting.engine.lead_time_demand_quantiles`), never a sum of daily
  quantiles, which would understate the spread of a total;
- **reorder point** = its service-level quantile over L; **order-up-to** = over L+R;
  **safety stock** = reorder point − mean demand over L;
- **position** = on hand − reserved − blocked (what can still be sold); **days of cover** =
  position / mean daily demand; **stock-out probability before the next delivery** =
  P(demand over L > position);
- **suggested order** = order-up-to − position, rounded up to the pack size (``B1_QE``), when
  the position is at or below the reorder point; the nearest DC's available stock says
  whether it can serve it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import BaseModel
from sqlalchemy.orm import Session

from sincro.alerts import DomainAlerts
from sincro.catalog import service as catalog
from sincro.db import utcnow
from sincro.errors import InvalidInput, NotFound
from sincro.events import publish, register_topic
from sincro.forecasting import engine, repository as repo
from sincro.inventory import service as inventory

LEVEL = "location"
PROBABILITY_LEVELS = tuple(range(1, 100))
SAMPLES = 1000


@dataclass(frozen=True, slots=True)
class Policy:
    service_level: float = 0.95
    review_days: int = 7
    default_lead_time_days: int = 7

    def __post_init__(self) -> None:
        if not 0.5 <= self.service_level < 1:
            raise InvalidInput(
                "service_level must be at least 0.5 and below 1", field="service_level"
            )
        if not 1 <= self.review_days <= 90:
            raise InvalidInput("review_days must be between 1 and 90", field="review_days")

    @classmethod
    def from_settings(
        cls, settings: Any, service_level: float | None = None, review_days: int | None = None
    ) -> Policy:
        """The deployment's policy (``SINCRO_FORECASTING_*``), with a caller's overrides."""
        return cls(
            service_level=service_level or settings.forecasting_service_level,
            review_days=review_days or settings.forecasting_review_days,
            default_lead_time_days=settings.forecasting_default_lead_time_days,
        )


@dataclass(frozen=True, slots=True)
class Advice:
    sku: str
    name: str
    pattern: str
    on_hand: int
    position: int
    mean_daily: float
    days_of_cover: float | None
    lead_time_days: int
    review_days: int
    stockout_probability: float
    reorder_point: int
    order_up_to: int
    safety_stock: int
    suggested_qty: int
    pack_size: int
    supplier: str | None
    dc: str | None
    dc_available: int | None
    flags: tuple[str, ...]

    @property
    def dc_can_serve(self) -> bool | None:
        if self.dc_available is None or not self.suggested_qty:
            return None
        return self.dc_available >= self.suggested_qty


def _nearest_dc(session: Session, code: str) -> str | None:
    directory = catalog.directory(session, need_code=code)
    here = directory.by_code[code]
    dcs = [p for p in directory.places if p.kind == "dc" and p.active and p.code != code]
    if not dcs:
        return None
    nearest = min(
        dcs,
        key=lambda p: catalog.distance_km(here.latitude, here.longitude, p.latitude, p.longitude),
    )
    return nearest.code


def _probability_over(quantiles: dict[float, float], position: float) -> float:
    """P(total > position) read off the 1st..99th percentiles of the total."""
    below = sum(1 for level in PROBABILITY_LEVELS if quantiles[level] <= position)
    return round(1 - below / (len(PROBABILITY_LEVELS) + 1), 3)


def advise(
    session: Session, location: str, policy: Policy, skus: Sequence[str] | None = None
) -> list[Advice]:
    """Advice for every SKU the live location-level run forecasts at ``location``."""
    if location not in catalog.directory(session, need_code=location).by_code:
        raise NotFound(f"location {location} not found", field="location")
    live = repo.live_promotion(session, LEVEL)
    if live is None:
        raise NotFound("no promoted location-level forecast run", field="location")
    series = {s.sku: s for s in repo.series_at(session, live.run_id, location)}
    if skus is not None:
        series = {sku: s for sku, s in series.items() if sku in set(skus)}
    means: dict[str, list[float]] = {}
    for value in repo.values_at(session, live.run_id, location):
        if value.sku in series:
            means.setdefault(value.sku, []).append(value.mean)
    pools = {p: np.array(rows, dtype=float) for p, rows in repo.pools(session, live.run_id).items()}
    any_pool = np.vstack(list(pools.values())) if pools else np.zeros((1, 1))
    location_id = catalog.directory(session).by_code[location].id
    stock = {
        r.sku: r
        for r in inventory.stock_at_location(session, location_id, offset=0, limit=10**6)[0]
    }
    dc = _nearest_dc(session, location)
    products = {sku: catalog.get_product(session, sku) for sku in series}
    out = []
    for sku, s in sorted(series.items()):
        mean = np.array(means.get(sku, []), dtype=float)
        if not mean.size:
            continue
        product = products.get(sku)
        lead = int(getattr(product, "lead_time_days", None) or policy.default_lead_time_days)
        pack = max(1, int(getattr(product, "pack_size", None) or 1))
        flags: list[str] = []
        horizon = mean.size
        if lead + policy.review_days > horizon:
            flags.append("horizon_short")
        span_l = min(lead, horizon)
        span_lr = min(lead + policy.review_days, horizon)
        pool = pools.get(s.pattern, any_pool)
        scale = s.scale if s.scale is not None else 1.0
        levels = sorted({*PROBABILITY_LEVELS, policy.service_level * 100})
        over_l = engine.lead_time_demand_quantiles(
            mean, pool, scale, span_l, levels, n_samples=SAMPLES, seed=1
        )
        over_lr = engine.lead_time_demand_quantiles(
            mean, pool, scale, span_lr, [policy.service_level * 100], n_samples=SAMPLES, seed=2
        )
        row = stock.get(sku)
        on_hand = row.on_hand if row else 0
        position = (row.on_hand - row.reserved - row.blocked) if row else 0
        # periodic review: an order not placed now arrives only after the next review plus the
        # lead time, so the reorder point covers lead time + review period at the service
        # level (covering the lead time alone reached 86.6% of a 95% target in the 90-day
        # simulation, docs/benchmarks.md); an order brings the position one review's mean
        # demand above it, so a store is not sent a few units every week
        reorder_point = math.ceil(over_lr[policy.service_level * 100])
        mean_lr = float(mean[:span_lr].sum())
        mean_r = float(mean[span_l:span_lr].sum())
        order_up_to = reorder_point + math.ceil(mean_r)
        daily = float(mean[:span_lr].mean())
        suggested = 0
        if position <= reorder_point:
            suggested = math.ceil(max(0, order_up_to - position) / pack) * pack
        dc_available = None
        if dc is not None and suggested:
            dc_available = inventory.get_level(session, dc, sku).available
        out.append(
            Advice(
                sku=sku,
                name=getattr(product, "name", sku),
                pattern=s.pattern,
                on_hand=on_hand,
                position=position,
                mean_daily=round(daily, 3),
                days_of_cover=round(position / daily, 1) if daily > 0 else None,
                lead_time_days=lead,
                review_days=policy.review_days,
                stockout_probability=_probability_over(over_l, position),
                reorder_point=reorder_point,
                order_up_to=order_up_to,
                safety_stock=max(0, math.ceil(reorder_point - mean_lr)),
                suggested_qty=suggested,
                pack_size=pack,
                supplier=getattr(product, "supplier_code", None),
                dc=dc,
                dc_available=dc_available,
                flags=tuple(flags + ([f for f in s.flags.split(",") if f] if s.flags else [])),
            )
        )
    return out


def as_dict(advice: Advice) -> dict[str, Any]:
    return {
        **{name: getattr(advice, name) for name in Advice.__dataclass_fields__},
        "flags": list(advice.flags),
        "dc_can_serve": advice.dc_can_serve,
    }


def write_safety_stock(
    session: Session, location: str, advice: Sequence[Advice], source: str
) -> int:
    """Write the advised safety stock into inventory's levels (audited there); returns how
    many levels changed."""
    from sincro.inventory.schemas import StockCountIn

    changed = 0
    for a in advice:
        level = inventory.get_level(session, location, a.sku)
        if level.safety_stock == a.safety_stock:
            continue
        inventory.set_count(
            session,
            source,
            location,
            a.sku,
            StockCountIn(on_hand=level.on_hand, safety_stock=a.safety_stock),
            level.version,
        )
        changed += 1
    return changed


# --- stock-out alerts ------------------------------------------------------------------------

STOCKOUT_RISK = "forecast.stockout_risk"


class StockoutRisk(BaseModel):
    """Payload of ``forecast.stockout_risk``: a SKU likely to run out at a location before
    its next delivery could arrive."""

    sku: str
    location: str
    probability: float
    position: int
    reorder_point: int
    suggested_qty: int
    lead_time_days: int
    run_id: int


register_topic(STOCKOUT_RISK, StockoutRisk)
ALERTS = DomainAlerts("forecasting", {"stockout_risk": "risco de ruptura previsto"})


def raise_stockout_alerts(session: Session, policy: Policy, threshold: float) -> tuple[int, int]:
    """For every location of the live location-level run: an alert (and a change-feed event)
    per SKU whose stock-out probability within its lead time reaches ``threshold``, resolved
    once it no longer does. Returns (raised or kept, resolved)."""
    live = repo.live_promotion(session, LEVEL)
    if live is None:
        return 0, 0
    started = utcnow()
    raised = resolved = 0
    for location in repo.keys_of(session, live.run_id):
        if location not in catalog.directory(session).by_code:
            continue
        for a in advise(session, location, policy):
            dedupe = f"forecasting:stockout:{location}:{a.sku}"
            if a.stockout_probability >= threshold:
                existing = ALERTS.raise_alert(
                    session,
                    "stockout_risk",
                    f"{a.sku} em {location}: {a.stockout_probability:.0%} de chance de ruptura "
                    f"antes da próxima entrega ({a.lead_time_days} dias); posição {a.position}, "
                    f"ponto de pedido {a.reorder_point}, sugerido {a.suggested_qty}",
                    source=location,
                    details={"sku": a.sku, "probability": a.stockout_probability},
                    dedupe_key=dedupe,
                )
                if existing.created_at >= started:  # new: announce it once
                    publish(
                        session,
                        STOCKOUT_RISK,
                        StockoutRisk(
                            sku=a.sku,
                            location=location,
                            probability=a.stockout_probability,
                            position=a.position,
                            reorder_point=a.reorder_point,
                            suggested_qty=a.suggested_qty,
                            lead_time_days=a.lead_time_days,
                            run_id=live.run_id,
                        ),
                    )
                raised += 1
            else:
                resolved += ALERTS.resolve_alerts(session, dedupe)
    return raised, resolved
