"""Rules turn interests into offers: the evaluation the beat runs.

For each active rule (their rows locked for the transaction, so two evaluations at once run
one after the other), the interests of its kind seen within ``within_days`` whose decayed
strength reaches ``min_strength`` are candidates. A candidate gets an offer only when:

- it has no offer of this rule for this trigger yet (``<kind>:<ref>``, ``wish:<id>`` for
  back-in-stock): the unique (rule, customer, trigger) row is written before anything else,
  and messaging's dedupe key repeats it, so an offer is never made twice;
- the customer consents to e-mail for ``marketing`` and is not suppressed (customers'
  audience query, the one campaigns use);
- fewer than ``SINCRO_AUTOMATION_CAP_OFFERS`` offers reached them in the last
  ``SINCRO_AUTOMATION_CAP_DAYS`` days, across rules;
- it is not the quiet hours in the customer's zone (messaging's setting): the offer waits for
  a later run rather than sitting in the queue all night with stale stock;
- for back-in-stock, the product is available at a place the customer's wish names, and the
  wish is claimed in the one wish list (the back-in-stock notice claims the same wish: whoever
  claims first acts, once).

A candidate held back by consent, the cap or the quiet hours leaves no trace and is looked at
again by the next run while its interest is within the window. The offer itself is messaging's
transactional send (purpose ``marketing``, the rule's template), handed to the e-mail workers
when the transaction commits."""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from sincro.automation import kinds, repository as repo
from sincro.automation.interests import strength_now
from sincro.automation.models import Interest, Offer, Rule
from sincro.catalog import service as catalog
from sincro.config import Settings
from sincro.customers import service as customers
from sincro.customers.schemas import AudienceMember, Segment
from sincro.db import utcnow
from sincro.errors import SincroError
from sincro.inventory import service as inventory
from sincro.messaging import service as messaging
from sincro.wishes import service as wishes
from sincro.wishes.service import StockWish

PURPOSE = "marketing"
MESSAGE_KIND = "automation.offer"
CLAIM_VIA = "assistant_offer"
Sender = Callable[..., bool]


@dataclass(slots=True)
class EvalRun:
    rules: int = 0
    candidates: int = 0
    sent: int = 0
    no_consent: int = 0
    capped: int = 0
    quiet: int = 0
    not_available: int = 0
    taken: int = 0  # the wish was claimed by the notice, or the trigger by another run


def trigger_of(interest: Interest) -> str:
    if interest.kind == kinds.BACK_IN_STOCK:
        return f"wish:{interest.wish_id}"
    return f"{interest.kind}:{interest.ref}"[:80]


def new_code() -> str:
    return f"SC-{secrets.token_hex(5).upper()}"


def evaluate(
    session: Session,
    settings: Settings,
    *,
    now: dt.datetime | None = None,
    send: Sender | None = None,
) -> EvalRun:
    """Evaluate every active rule once (see the module docstring); the caller commits."""
    now = now or utcnow()
    send = send or messaging.send_transactional
    run = EvalRun()
    rules = repo.lock_active_rules(session)
    for rule in rules:
        run.rules += 1
        _evaluate_rule(session, settings, rule, now, send, run)
    return run


def _evaluate_rule(
    session: Session,
    settings: Settings,
    rule: Rule,
    now: dt.datetime,
    send: Sender,
    run: EvalRun,
) -> None:
    half_life = settings.automation_half_life_days
    since = now - dt.timedelta(days=rule.within_days)
    interests = [
        i
        for i in repo.interests_seen_since(session, rule.kind, since)
        if strength_now(i, now, half_life) >= rule.min_strength
        and (i.kind != kinds.BACK_IN_STOCK or i.wish_id is not None)
    ]
    if not interests:
        return
    done = repo.triggers_done(session, rule.id, [i.customer_id for i in interests])
    interests = [i for i in interests if (i.customer_id, trigger_of(i)) not in done]
    run.candidates += len(interests)
    if not interests:
        return
    template = messaging.get_template(session, rule.template_id)
    ids = sorted({i.customer_id for i in interests})
    reachable = _reachable(session, settings, ids)
    cap_since = now - dt.timedelta(days=settings.automation_cap_days)
    sent = repo.offers_since(session, ids, cap_since)
    names = _product_names(session, interests)
    stock: dict[str, dict[str, catalog.Place]] = {}
    for interest in interests:
        member = reachable.get(interest.customer_id)
        if member is None:
            run.no_consent += 1
            continue
        if sent.get(interest.customer_id, 0) >= settings.automation_cap_offers:
            run.capped += 1
            continue
        if messaging.quiet_until(member.time_zone, settings, now) is not None:
            run.quiet += 1
            continue
        wish, place = None, None
        if interest.kind == kinds.BACK_IN_STOCK:
            wish, place = _available_for_wish(session, interest, stock)
            if wish is None or place is None:
                run.not_available += 1
                continue
        context = offer_context(session, interest, member, names, wish, place)
        offer = _take_trigger(session, rule, interest, context["offer_code"], now, wish, place)
        if offer is None:
            run.taken += 1
            continue
        send(
            session,
            customer_id=interest.customer_id,
            purpose=PURPOSE,
            kind=MESSAGE_KIND,
            dedupe_key=f"rule:{rule.id}:customer:{interest.customer_id}:{offer.trigger}",
            template_key=template.key,
            context=context,
            attachments=(),
        )
        sent[interest.customer_id] = sent.get(interest.customer_id, 0) + 1
        run.sent += 1


def _reachable(session: Session, settings: Settings, ids: list[int]) -> dict[int, AudienceMember]:
    """The customers among ``ids`` who may get marketing e-mail now (consent, not suppressed,
    with an address), by id."""
    found: dict[int, AudienceMember] = {}
    for start in range(0, len(ids), repo.CHUNK):
        members = customers.audience_page(
            session,
            Segment(customer_ids=ids[start : start + repo.CHUNK], purpose=PURPOSE),
            today=dt.date.today(),
            grace_days=settings.customers_defaulter_days,
            limit=repo.CHUNK,
        )
        found.update((m.customer_id, m) for m in members)
    return found


def _product_names(session: Session, interests: list[Interest]) -> dict[str, str]:
    skus = {i.ref for i in interests if i.kind in (kinds.PRODUCT, kinds.BACK_IN_STOCK)}
    return {sku: ref.name for sku, ref in catalog.find_products(session, skus).items()}


def _available_for_wish(
    session: Session, interest: Interest, stock: dict[str, dict[str, catalog.Place]]
) -> tuple[StockWish | None, catalog.Place | None]:
    """The interest's open wish and a place that fulfils it now (first by code), if any."""
    assert interest.wish_id is not None
    try:
        wish = wishes.get_wish(session, interest.wish_id)
    except SincroError:  # withdrawn by the customer
        return None, None
    if wish.notified_at is not None:
        return None, None
    if wish.sku not in stock:
        try:
            codes = inventory.available_by_location(session, wish.sku)
        except SincroError:
            codes = {}
        stock[wish.sku] = catalog.places_by_code(session, codes) if codes else {}
    places = sorted(stock[wish.sku].values(), key=lambda p: p.code)
    return wish, next((p for p in places if wishes.matches(wish, p)), None)


def offer_context(
    session: Session,
    interest: Interest,
    member: AudienceMember,
    names: dict[str, str],
    wish: StockWish | None,
    place: catalog.Place | None,
) -> dict[str, Any]:
    """The template variables of one offer (:data:`messages.OFFER_VARIABLES`, every one
    present, empty when it does not apply)."""
    product = interest.kind in (kinds.PRODUCT, kinds.BACK_IN_STOCK)
    plan_name = ""
    if interest.kind in (kinds.PLAN_UPGRADE, kinds.CANCELLATION_RISK) and interest.ref:
        try:
            plan_name = catalog.get_plan(session, interest.ref).name
        except SincroError:
            plan_name = interest.ref
    where = ""
    if wish is not None and place is not None:
        where = wishes.notice_context(wish, names.get(wish.sku, wish.sku), place)["place"]
    zone = ZoneInfo(member.time_zone)
    return {
        "product_name": names.get(interest.ref, interest.ref) if product else "",
        "sku": interest.ref if product else "",
        "place": where,
        "plan_name": plan_name,
        "category": interest.ref if interest.kind == kinds.CATEGORY else "",
        "offer_code": new_code(),
        "asked_on": interest.first_seen.astimezone(zone).strftime("%d/%m/%Y"),
    }


def _take_trigger(
    session: Session,
    rule: Rule,
    interest: Interest,
    code: str,
    now: dt.datetime,
    wish: StockWish | None,
    place: catalog.Place | None,
) -> Offer | None:
    """Write the offer row (and claim the wish) in a savepoint; None when the trigger or the
    wish was taken already (nothing is left behind)."""
    savepoint = session.begin_nested()
    offer = Offer(
        rule_id=rule.id,
        customer_id=interest.customer_id,
        trigger=trigger_of(interest),
        kind=interest.kind,
        ref=interest.ref,
        sku=interest.ref if interest.kind in (kinds.PRODUCT, kinds.BACK_IN_STOCK) else None,
        wish_id=wish.id if wish is not None else None,
        code=code,
        sent_at=now,
    )
    try:
        session.add(offer)
        session.flush()
    except IntegrityError:
        savepoint.rollback()
        return None
    if wish is not None and not wishes.claim(
        session, wish.id, via=CLAIM_VIA, trigger_location=place.code if place else None
    ):
        savepoint.rollback()
        return None
    savepoint.commit()
    return offer
