"""Apply one page of canonical records through the domain services, inside the caller's
transaction: products (catalog + ProductAlias; the ERP's list price becomes the price in
force from the sync's day, Brasília time), stock balances (inventory movements), customers
and receivables (customers service), product documents (catalog documents), telecom plans
and promotions (catalog offers).

Stock balances are ERP facts as of the moment the page was fetched (T). The level becomes
``ERP quantity + every on-hand change the ERP did not know at T`` (Sincro's sales not yet
acknowledged, or acknowledged after T), so a balance never erases a sale the ERP has not seen.
Only the difference is applied, as an ERP-known correction movement (ledger + outbox event),
set-based for the whole page (:func:`sincro.inventory.snapshots.balance_corrections`, the same
rule as SAP snapshots, then :mod:`sincro.inventory.bulk`). A negative balance (the ERP allows
negative stock) is taken as zero sellable and raises a ``negative_stock`` warning.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from sincro.catalog import service as catalog
from sincro.catalog.documents import DocumentIn, apply_documents
from sincro.catalog.schemas import PRODUCT_OPTIONAL_ATTRIBUTES, PlanIn, ProductIn, PromotionIn
from sincro.connectors.alerts import raise_alert
from sincro.connectors.models import LocationAlias, ProductAlias
from sincro.connectors.rest.mapping import Columns, Reject
from sincro.customers import service as customers
from sincro.errors import SincroError
from sincro.inventory import bulk, snapshots
from sincro.text_pt import SAO_PAULO

Records = Sequence[tuple[str, dict[str, Any]]]


@dataclass
class ApplyContext:
    """What one entity run remembers between pages (alias lookups)."""

    source: str
    fetched_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    products: dict[str, tuple[int, str] | None] = field(default_factory=dict)
    locations: dict[tuple[str, str], int] | None = None  # (plant, storage) -> location id

    def forget(self) -> None:
        """Drop the cached lookups (after a rolled-back page: ids it created are gone)."""
        self.products.clear()
        self.locations = None


def _reject(key: str, field_name: str | None, rule: str, value: Any, message: str) -> Reject:
    shown = None if value is None else str(value)[:200]
    return Reject(key[:120], field_name, rule, shown, message)


def apply_products(
    session: Session, ctx: ApplyContext, records: Records
) -> tuple[int, list[Reject]]:
    aliases = {
        a.external_code: a
        for a in session.scalars(
            select(ProductAlias).where(
                ProductAlias.source == ctx.source,
                ProductAlias.external_code.in_([k for k, _ in records]),
            )
        )
    }
    valid: list[tuple[str, ProductIn]] = []
    rejects = []
    for key, rec in records:
        # the replenishment attributes only when the mapping carries them (else kept as is)
        attributes = {a: rec[a] for a in PRODUCT_OPTIONAL_ATTRIBUTES if a in rec}
        try:
            data = ProductIn(
                sku=rec["sku"],
                name=rec["name"],
                ean=rec.get("ean"),
                category=rec.get("category") or "outros",
                unit=rec.get("unit") or "UN",
                **attributes,
            )
        except ValidationError as exc:
            first = exc.errors()[0]
            name = str(first["loc"][0]) if first["loc"] else None
            rejects.append(_reject(key, name, "schema", rec.get(name or ""), first["msg"]))
            continue
        valid.append((key, data))
    upserted = catalog.upsert_products(session, [data for _, data in valid])
    by_key = dict(records)
    prices = {
        product.id: price
        for (key, _), (product, _) in zip(valid, upserted, strict=True)
        if (price := by_key[key].get("list_price")) is not None
    }
    catalog.apply_list_prices(session, prices, _local_day(ctx.fetched_at), source=ctx.source)
    for (key, data), (product, _) in zip(valid, upserted, strict=True):
        alias = aliases.get(key)
        if alias is None:
            session.add(
                ProductAlias(
                    source=ctx.source, external_code=key, product_id=product.id, unit=data.unit
                )
            )
        else:
            alias.product_id, alias.unit = product.id, data.unit
        ctx.products[key] = (product.id, product.sku)
    session.flush()
    return len(valid), rejects


def _local_day(moment: dt.datetime) -> dt.date:
    """The day in Brasília time of an instant (ERP prices take effect from that day)."""
    return moment.astimezone(SAO_PAULO).date()


def _resolve_products(session: Session, ctx: ApplyContext, codes: set[str]) -> None:
    missing = [c for c in codes if c not in ctx.products]
    if not missing:
        return
    aliases = session.execute(
        select(ProductAlias.external_code, ProductAlias.product_id).where(
            ProductAlias.source == ctx.source, ProductAlias.external_code.in_(missing)
        )
    ).all()
    skus = catalog.skus_by_id(session, {product_id for _, product_id in aliases})
    for code, product_id in aliases:
        if product_id in skus:
            ctx.products[code] = (product_id, skus[product_id])
    rest = [c for c in missing if c not in ctx.products]
    # no alias: the ERP uses Sincro's SKU
    for sku, product_id in catalog.product_ids(session, rest).items():
        ctx.products[sku] = (product_id, sku)
    for code in rest:
        ctx.products.setdefault(code, None)


def _location_aliases(session: Session, ctx: ApplyContext) -> dict[tuple[str, str], int]:
    if ctx.locations is None:
        rows = session.execute(
            select(LocationAlias.plant, LocationAlias.storage, LocationAlias.location_id).where(
                LocationAlias.source == ctx.source
            )
        )
        ctx.locations = {(plant, storage): location_id for plant, storage, location_id in rows}
    return ctx.locations


def apply_stock(session: Session, ctx: ApplyContext, records: Records) -> tuple[int, list[Reject]]:
    """:func:`apply_stock_columns` for records as :meth:`Mapper.map_page` gives them."""
    fields = ("sku", "location", "storage", "on_hand")
    return apply_stock_columns(
        session,
        ctx,
        Columns([k for k, _ in records], {f: [r.get(f) for _, r in records] for f in fields}),
    )


def apply_stock_columns(
    session: Session, ctx: ApplyContext, page: Columns
) -> tuple[int, list[Reject]]:
    """A page of ERP balances as columns (:meth:`Mapper.map_columns`): each record resolved to
    a (product, location) level, the last of a level winning; the levels that differ get
    their correction."""
    keys, values = page.keys, page.values
    skus, plants, quantities = values["sku"], values["location"], values["on_hand"]
    storages = values.get("storage") or [None] * len(keys)
    locations = _location_aliases(session, ctx)
    _resolve_products(session, ctx, set(skus))
    products = ctx.products
    where: dict[tuple[str, str | None], int | None] = {}  # (plant, storage) -> location
    for plant, storage in set(zip(plants, storages, strict=True)):
        where[(plant, storage)] = locations.get((plant, storage or "")) or locations.get(
            (plant, "")
        )
    ids = {sku: p[0] for sku in set(skus) if (p := products.get(sku)) is not None}
    product_ids: list[int | None] = list(map(ids.get, skus))
    location_ids = list(map(where.__getitem__, zip(plants, storages, strict=True)))
    rejects: list[Reject] = []
    indexes: Sequence[int]
    if None in product_ids or None in location_ids or 0 in location_ids:
        indexes = _known_records(keys, skus, plants, storages, product_ids, location_ids, rejects)
        levels = [(product_ids[i], location_ids[i]) for i in indexes]
        amounts = [quantities[i] for i in indexes]
    else:  # every record names a known product and location (a sync's pages): in C
        indexes, amounts = range(len(keys)), quantities
        levels = list(zip(product_ids, location_ids, strict=True))
    # per (product, location): its last record's index and balance, in the order of its first
    targets: dict[tuple[int, int], int] = dict(zip(levels, indexes, strict=True))  # type: ignore[arg-type]
    balances: dict[tuple[int, int], int] = dict(zip(levels, map(int, amounts), strict=True))  # type: ignore[arg-type]
    if balances and min(balances.values()) < 0:
        negative = [(keys[targets[p]], q) for p, q in balances.items() if q < 0]
        _alert_negative(session, ctx, negative)
    lines = snapshots.balance_corrections(
        session, balances, ctx.fetched_at, reference=f"{ctx.source}:balance"
    )
    if not lines:
        return len(balances), rejects
    names = {p[0]: p[1] for sku in set(skus) if (p := products.get(sku)) is not None}
    short = bulk.apply_erp_lines(session, ctx.source, lines, names)
    for refused in short:
        line = lines[refused.index]
        rejects.append(
            _reject(
                keys[targets[(line.product_id, line.location_id)]],
                "on_hand",
                "insufficient_stock",
                line.quantity,
                f"on-hand changed meanwhile (has {refused.available}); next sync corrects it",
            )
        )
    return len(balances) - len(short), rejects


def _known_records(
    keys: list[str],
    skus: list[Any],
    plants: list[Any],
    storages: list[Any],
    product_ids: list[int | None],
    location_ids: list[int | None],
    rejects: list[Reject],
) -> list[int]:
    """The indexes of the records whose product and location are known; a reject for each of
    the others, in the page's order (the product checked first)."""
    known = []
    for i, (product_id, location_id) in enumerate(zip(product_ids, location_ids, strict=True)):
        if product_id is None:
            rejects.append(_reject(keys[i], "sku", "unknown_product", skus[i], "no such product"))
        elif not location_id:
            where_at = f"{plants[i]}/{storages[i] or ''}"
            rejects.append(
                _reject(keys[i], "location", "unknown_location", where_at, "no location alias")
            )
        else:
            known.append(i)
    return known


def _alert_negative(session: Session, ctx: ApplyContext, negative: list[tuple[str, int]]) -> None:
    """Balances below zero (the ERP allows negative stock): applied as zero sellable by
    :func:`sincro.inventory.snapshots.balance_corrections`; one open warning per source."""
    if not negative:
        return
    raise_alert(
        session,
        "negative_stock",
        f"{len(negative)} saldos negativos no ERP; tratados como zero disponível",
        source=ctx.source,
        severity="warning",
        details={"sample": [{"record": k, "on_hand": q} for k, q in negative[:20]]},
        dedupe_key=f"negative_stock:{ctx.source}",
    )


def _invalid(invalid: Sequence[customers.Invalid]) -> list[Reject]:
    return [_reject(i.key, i.field, i.rule, None, i.message) for i in invalid]


def apply_customers(
    session: Session, ctx: ApplyContext, records: Records
) -> tuple[int, list[Reject]]:
    applied, invalid = customers.upsert_customers(session, ctx.source, records)
    return applied, _invalid(invalid)


def apply_receivables(
    session: Session, ctx: ApplyContext, records: Records
) -> tuple[int, list[Reject]]:
    applied, invalid = customers.upsert_receivables(session, ctx.source, records)
    return applied, _invalid(invalid)


def apply_product_documents(
    session: Session, ctx: ApplyContext, records: Records
) -> tuple[int, list[Reject]]:
    documents, rejects = [], []
    for key, rec in records:
        try:
            documents.append(DocumentIn.of(rec))
        except ValueError as exc:
            rule_field, _, message = str(exc).partition("|")
            rejects.append(_reject(key, rule_field, "invalid", rec.get(rule_field), message))
    return apply_documents(session, ctx.source, documents), rejects


def _schema_reject(key: str, rec: dict[str, Any], exc: ValidationError) -> Reject:
    first = exc.errors()[0]
    name = str(first["loc"][0]) if first["loc"] else None
    message = str(first["msg"]).removeprefix("Value error, ")
    return _reject(key, name, "schema", rec.get(name or ""), message)


def apply_plans(session: Session, ctx: ApplyContext, records: Records) -> tuple[int, list[Reject]]:
    """Telecom plans (a custom ERP table, e.g. Protheus ZPL) through the catalog."""
    plans, rejects = [], []
    for key, rec in records:
        try:
            plans.append(
                PlanIn(
                    code=rec["code"],
                    name=rec["name"],
                    kind=rec["kind"],
                    monthly_price=rec["monthly_price"],
                    data_gb=rec.get("data_gb"),
                    active=True if rec.get("active") is None else rec["active"],
                )
            )
        except ValidationError as exc:
            rejects.append(_schema_reject(key, rec, exc))
    catalog.upsert_plans(session, plans, source=ctx.source)
    return len(plans), rejects


def apply_promotions(
    session: Session, ctx: ApplyContext, records: Records
) -> tuple[int, list[Reject]]:
    """Promotions (a custom ERP table, e.g. Protheus ZPR); one naming an unknown product or
    plan is rejected with that field (the page's other records still apply)."""
    applied, rejects = 0, []
    fields = ("sku", "plan", "discount_percent", "promo_price", "valid_to", "channel")
    for key, rec in records:
        try:
            data = PromotionIn(
                code=rec["code"],
                name=rec["name"],
                valid_from=rec["valid_from"],
                active=True if rec.get("active") is None else rec["active"],
                **{f: rec[f] for f in fields if rec.get(f) is not None},
            )
        except ValidationError as exc:
            rejects.append(_schema_reject(key, rec, exc))
            continue
        try:  # refuses an unknown product or plan before writing anything
            catalog.upsert_promotion(session, data, source=ctx.source)
        except SincroError as exc:
            field_name = exc.field or "code"
            rejects.append(_reject(key, field_name, "unknown", rec.get(field_name), str(exc)))
            continue
        applied += 1
    return applied, rejects


COLUMN_APPLIERS: dict[str, Callable[[Session, ApplyContext, Columns], tuple[int, list[Reject]]]] = {
    "stock_balance": apply_stock_columns,
}
"""Kinds applied from columns (:meth:`Mapper.map_columns`) rather than rows."""

APPLIERS: dict[str, Callable[[Session, ApplyContext, Records], tuple[int, list[Reject]]]] = {
    "product": apply_products,
    "stock_balance": apply_stock,
    "customer": apply_customers,
    "receivable": apply_receivables,
    "product_document": apply_product_documents,
    "plan": apply_plans,
    "promotion": apply_promotions,
}
