"""``planos_ofertas``: plans and promotions in force, from the catalog's offers
(``catalog.service.plans_in_force`` and ``promotions_in_force``), narrowed to the plan kind the
customer names (controle, pós, pré, fibra, combo) or the product being talked about."""

from __future__ import annotations

import datetime as dt

from sincro.assistant.conversations import Action
from sincro.assistant.dialogue.turn import Answer, Turn
from sincro.catalog import service as catalog
from sincro.catalog.schemas import PlanOut, PromotionOut
from sincro.text_pt import SAO_PAULO, decimal_br, money_br

KIND_WORDS = {
    "controle": "controle",
    "pos": "pos",
    "pospago": "pos",
    "pre": "pre",
    "prepago": "pre",
    "recarga": "pre",
    "fibra": "fibra",
    "internet": "fibra",
    "banda": "fibra",
    "wifi": "fibra",
    "combo": "combo",
}
SHOWN = 3


def _kind(turn: Turn) -> str | None:
    for word in turn.words:
        if word in KIND_WORDS:
            return KIND_WORDS[word]
    return None


def _plan_line(plan: PlanOut) -> str:
    data = f", {plan.data_gb} GB" if plan.data_gb else ""
    return f"• {plan.name}{data}: {money_br(plan.monthly_price)}/mês"


def _promotion_line(promo: PromotionOut) -> str:
    if promo.promo_price is not None:
        deal = f"por {money_br(promo.promo_price)}"
    else:
        deal = f"{decimal_br(promo.discount_percent or 0, 0)}% de desconto"
    until = f" até {promo.valid_to:%d/%m}" if promo.valid_to else ""
    return f"• {promo.name}: {deal}{until}"


def plans_and_offers(turn: Turn) -> Answer:
    kind = _kind(turn)
    in_force = catalog.plans_in_force(turn.session, kind=kind, limit=50)
    plans = sorted(in_force, key=lambda p: (p.monthly_price, p.code))[:SHOWN]
    today = dt.datetime.now(SAO_PAULO).date()
    sku = None
    last = turn.flow.get("product")
    named = turn.entity("product")
    if named is not None:
        sku = named.normalized
    elif kind is None and isinstance(last, dict):
        sku = str(last.get("sku"))
    promos = list(catalog.promotions_in_force(turn.session, day=today, sku=sku, limit=SHOWN))
    if not promos and sku is not None:
        promos = list(catalog.promotions_in_force(turn.session, day=today, sku=None, limit=SHOWN))
    if plans and kind is not None:
        codes = {p.code for p in plans}
        promos = [p for p in promos if p.plan is None or p.plan in codes] or promos
    if not plans and not promos:
        return Answer.hand_off("cannot_do")
    parts = []
    if plans:
        parts.append("Planos:\n" + "\n".join(_plan_line(p) for p in plans))
    if promos:
        parts.append("Promoções de hoje:\n" + "\n".join(_promotion_line(p) for p in promos))
    data = {
        "kind": kind,
        "plans": [p.model_dump(mode="json", exclude={"source"}) for p in plans],
        "promotions": [p.model_dump(mode="json", exclude={"source"}) for p in promos],
    }
    answer = Answer("\n".join(parts), [Action("show_offers", data)])
    answer.plan = plans[0].code if plans and kind is not None else None
    answer.skus = [p.sku for p in promos if p.sku][:5]
    return answer
