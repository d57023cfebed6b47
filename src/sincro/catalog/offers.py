"""Rules for the catalog's offers: product prices by period, telecom plans and promotions.

Re-exported by :mod:`sincro.catalog.service` (the one door other domains use). Functions take
the caller's session and never commit. Inputs arrive validated by the schemas
(:class:`~sincro.catalog.schemas.PriceIn`, ``PlanIn``, ``PromotionIn``); what only the database
knows (an unknown SKU or plan) is refused here with the field named.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from decimal import Decimal

from pydantic import BaseModel
from sqlalchemy.orm import Session

from sincro.audit import Actor, Entity, record
from sincro.catalog import offers_repository as repo, repository as products
from sincro.catalog.models import Product, ProductPrice, Promotion, TelecomPlan
from sincro.catalog.recent import RECENT
from sincro.catalog.schemas import (
    PlanIn,
    PlanOut,
    PriceIn,
    PriceOut,
    PromotionIn,
    PromotionOut,
)
from sincro.errors import InvalidInput, NotFound

PLAN_KIND_LABELS = {
    "pre": "Pré-pago",
    "controle": "Controle",
    "pos": "Pós-pago",
    "fibra": "Fibra",
    "combo": "Combo",
}
CHANNEL_LABELS = {
    "todos": "Todos os canais",
    "loja": "Lojas",
    "online": "Loja online",
    "app": "Aplicativo",
    "televendas": "Televendas",
}


def _audit(
    session: Session,
    actor: Actor | None,
    action: str,
    entity: Entity,
    before: BaseModel | None,
    after: BaseModel | None,
) -> None:
    """An admin's change (API key or console user) goes to the audit log; syncs pass none."""
    if actor is None:
        return
    record(
        session,
        actor,
        action,
        entity,
        None if before is None else before.model_dump(mode="json"),
        None if after is None else after.model_dump(mode="json"),
    )


def _product(session: Session, sku: str) -> Product:
    product = products.products_by_sku(session, [sku]).get(sku)
    if product is None:
        raise NotFound(f"unknown SKU {sku!r}", field="sku")
    return product


# --- prices -----------------------------------------------------------------------------------


def _price_out(row: ProductPrice, sku: str) -> PriceOut:
    return PriceOut(
        sku=sku,
        valid_from=row.valid_from,
        valid_to=row.valid_to,
        list_price=row.list_price,
        sale_price=row.sale_price,
        currency="BRL",
        source=row.source,
    )


def upsert_price(
    session: Session, sku: str, data: PriceIn, *, source: str = "api", actor: Actor | None = None
) -> tuple[PriceOut, bool]:
    """Create or replace the price of ``sku`` starting on ``data.valid_from``."""
    product = _product(session, sku)
    row = repo.price_row(session, product.id, data.valid_from)
    created = row is None
    before = None if row is None else _price_out(row, sku)
    if row is None:
        row = ProductPrice(product_id=product.id, valid_from=data.valid_from)
        session.add(row)
    row.valid_to, row.list_price, row.sale_price = data.valid_to, data.list_price, data.sale_price
    row.currency, row.source = data.currency, source[:40]
    session.flush()
    after = _price_out(row, sku)
    entity = Entity("product_price", f"{sku}@{data.valid_from.isoformat()}")
    _audit(session, actor, "price.set", entity, before, after)
    return after, created


def upsert_prices(
    session: Session, items: Sequence[tuple[int, str, PriceIn]], *, source: str
) -> int:
    """Create or replace many prices at once: (product id, sku, price) triples (ERP sync)."""
    found = repo.prices_by_start(session, [product_id for product_id, _, _ in items])
    for product_id, _, data in items:
        row = found.get((product_id, data.valid_from))
        if row is None:
            row = found[(product_id, data.valid_from)] = ProductPrice(
                product_id=product_id, valid_from=data.valid_from
            )
            session.add(row)
        row.valid_to, row.list_price = data.valid_to, data.list_price
        row.sale_price, row.currency, row.source = data.sale_price, data.currency, source[:40]
    session.flush()
    return len(items)


def apply_list_prices(
    session: Session, prices: dict[int, Decimal], day: dt.date, *, source: str
) -> int:
    """An ERP's current list price per product id, as of ``day``: where the price in force
    differs, the open period is closed the day before and a new one starts on ``day`` (a
    period that starts on ``day`` is corrected in place). Returns how many changed."""
    if not prices:
        return 0
    in_force: dict[int, ProductPrice] = {}
    for found, _ in repo.prices_on(session, list(prices), day):
        current = in_force.get(found.product_id)
        if current is None or found.valid_from > current.valid_from:
            in_force[found.product_id] = found
    changed = 0
    for product_id, price in prices.items():
        row = in_force.get(product_id)
        if row is not None and row.list_price == price:
            continue
        changed += 1
        if row is not None and row.valid_from == day:
            row.list_price, row.source = price, source[:40]
            if row.sale_price is not None and row.sale_price > price:
                row.sale_price = None
            continue
        if row is not None:
            row.valid_to = day - dt.timedelta(days=1)
        session.add(
            ProductPrice(
                product_id=product_id,
                valid_from=day,
                valid_to=None,
                list_price=price,
                sale_price=None,
                currency="BRL",
                source=source[:40],
            )
        )
    session.flush()
    return changed


def list_prices(
    session: Session, *, sku: str | None, on: dt.date | None, offset: int, limit: int
) -> tuple[list[PriceOut], int]:
    """Prices by SKU, newest period first; ``on``: only those in force that day."""
    rows, total = repo.list_prices(session, sku=sku, on=on, offset=offset, limit=limit)
    return [_price_out(row, row_sku) for row, row_sku in rows], total


def current_prices(session: Session, skus: Iterable[str], on: dt.date) -> dict[str, PriceOut]:
    """The price in force on ``on`` for each known SKU that has one (the latest start wins)."""
    ids = [p.id for p in products.products_by_sku(session, skus).values()]
    best: dict[str, tuple[dt.date, PriceOut]] = {}
    for row, sku in repo.prices_on(session, ids, on):
        if sku not in best or row.valid_from > best[sku][0]:
            best[sku] = (row.valid_from, _price_out(row, sku))
    return {sku: price for sku, (_, price) in best.items()}


def delete_price(
    session: Session, sku: str, valid_from: dt.date, *, actor: Actor | None = None
) -> None:
    product = _product(session, sku)
    row = repo.price_row(session, product.id, valid_from)
    if row is None:
        raise NotFound(f"no price of {sku!r} starting {valid_from.isoformat()}", field="valid_from")
    before = _price_out(row, sku)
    repo.delete_price(session, product.id, valid_from)
    entity = Entity("product_price", f"{sku}@{valid_from.isoformat()}")
    _audit(session, actor, "price.delete", entity, before, None)


# --- plans ------------------------------------------------------------------------------------


def upsert_plans(
    session: Session, items: Sequence[PlanIn], *, source: str = "api"
) -> list[tuple[PlanOut, bool]]:
    """Create or update plans by code (one read, one flush); (plan, created) in order."""
    found = repo.plans_by_code(session, [p.code for p in items])
    out: list[tuple[TelecomPlan, bool]] = []
    for data in items:
        plan = found.get(data.code)
        created = plan is None
        if plan is None:
            plan = found[data.code] = TelecomPlan(code=data.code)
            session.add(plan)
        for name, value in data.model_dump(exclude={"code"}).items():
            setattr(plan, name, value.value if hasattr(value, "value") else value)
        plan.source = source[:40]
        out.append((plan, created))
    RECENT.forget_on_commit(session)  # the plans in force
    session.flush()
    return [(PlanOut.model_validate(plan), created) for plan, created in out]


def upsert_plan(
    session: Session, data: PlanIn, *, source: str = "api", actor: Actor | None = None
) -> tuple[PlanOut, bool]:
    found = repo.plans_by_code(session, [data.code]).get(data.code)
    before = None if found is None else PlanOut.model_validate(found)
    plan, created = upsert_plans(session, [data], source=source)[0]
    _audit(session, actor, "plan.set", Entity("telecom_plan", data.code), before, plan)
    return plan, created


def get_plan(session: Session, code: str) -> PlanOut:
    plan = repo.plans_by_code(session, [code]).get(code)
    if plan is None:
        raise NotFound(f"unknown plan {code!r}", field="plan")
    return PlanOut.model_validate(plan)


def list_plans(
    session: Session,
    *,
    kind: str | None = None,
    active: bool | None = None,
    offset: int = 0,
    limit: int = 500,
) -> tuple[list[PlanOut], int]:
    """Plans by kind, then monthly price."""
    rows, total = repo.list_plans(session, kind=kind, active=active, offset=offset, limit=limit)
    return [PlanOut.model_validate(row) for row in rows], total


# --- promotions -------------------------------------------------------------------------------


def _promotion_out(row: repo.PromotionRow) -> PromotionOut:
    promotion, sku, plan = row
    return PromotionOut(
        code=promotion.code,
        name=promotion.name,
        sku=sku,
        plan=plan,
        discount_percent=promotion.discount_percent,
        promo_price=promotion.promo_price,
        valid_from=promotion.valid_from,
        valid_to=promotion.valid_to,
        channel=promotion.channel,
        active=promotion.active,
        source=promotion.source,
    )


def upsert_promotion(
    session: Session, data: PromotionIn, *, source: str = "api", actor: Actor | None = None
) -> tuple[PromotionOut, bool]:
    """Create or update a promotion by code; its product or plan must exist."""
    product_id = plan_id = None
    if data.sku is not None:
        product = products.products_by_sku(session, [data.sku]).get(data.sku)
        if product is None:
            raise InvalidInput(f"unknown SKU {data.sku!r}", field="sku")
        product_id = product.id
    if data.plan is not None:
        plan = repo.plans_by_code(session, [data.plan]).get(data.plan)
        if plan is None:
            raise InvalidInput(f"unknown plan {data.plan!r}", field="plan")
        plan_id = plan.id
    promotion = repo.promotion_by_code(session, data.code)
    created = promotion is None
    before = None if created else get_promotion(session, data.code)
    if promotion is None:
        promotion = Promotion(code=data.code)
        session.add(promotion)
    promotion.name, promotion.product_id, promotion.plan_id = data.name, product_id, plan_id
    promotion.discount_percent, promotion.promo_price = data.discount_percent, data.promo_price
    promotion.valid_from, promotion.valid_to = data.valid_from, data.valid_to
    promotion.channel, promotion.active, promotion.source = data.channel.value, data.active, source
    RECENT.forget_on_commit(session)  # the promotions in force
    session.flush()
    after = get_promotion(session, data.code)
    _audit(session, actor, "promotion.set", Entity("promotion", data.code), before, after)
    return after, created


def get_promotion(session: Session, code: str) -> PromotionOut:
    row = repo.promotion_with_refs(session, code)
    if row is None:
        raise NotFound(f"unknown promotion {code!r}", field="code")
    return _promotion_out(row)


def list_promotions(
    session: Session,
    *,
    active_on: dt.date | None = None,
    sku: str | None = None,
    plan: str | None = None,
    offset: int = 0,
    limit: int = 50,
) -> tuple[list[PromotionOut], int]:
    """Promotions, newest start first; ``active_on``: only active ones in force that day."""
    rows, total = repo.list_promotions(
        session, active_on=active_on, sku=sku, plan=plan, offset=offset, limit=limit
    )
    return [_promotion_out(row) for row in rows], total


def promotion_days(
    session: Session, skus: Iterable[str], start: dt.date, end: dt.date
) -> dict[str, set[dt.date]]:
    """The days between ``start`` and ``end`` on which each SKU had (or will have) an active
    promotion of its own, any channel (what demand forecasting uses as an event)."""
    out: dict[str, set[dt.date]] = {}
    for sku, valid_from, valid_to in repo.promotion_periods(session, list(skus), start, end):
        first, last = max(valid_from, start), min(valid_to or end, end)
        days = out.setdefault(sku, set())
        for offset in range((last - first).days + 1):
            days.add(first + dt.timedelta(days=offset))
    return out


def delete_promotion(session: Session, code: str, *, actor: Actor | None = None) -> None:
    before = get_promotion(session, code)  # NotFound names the code
    repo.delete_promotion(session, code)
    RECENT.forget_on_commit(session)
    _audit(session, actor, "promotion.delete", Entity("promotion", code), before, None)
