"""Marketing automation: the assistant's interactions become interests (and wishes), rules
turn them into offers once per trigger with consent, suppression, the frequency cap and the
quiet hours respected, the one wish list is shared with the back-in-stock notice, and a sale
of the offered product converts the offer."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from sqlalchemy import select

from sincro.automation import rules, service
from sincro.automation.conversions import record_conversions
from sincro.automation.interests import strength_now
from sincro.automation.models import Interest, Offer
from sincro.config import Settings
from sincro.customers import service as customers
from sincro.customers.schemas import Segment
from sincro.db import Database
from sincro.inventory import reservations
from sincro.inventory.schemas import ReservationLineIn
from sincro.wishes import service as wishes
from tests.automation.support import (
    IN_STOCK,
    MISSING,
    add_customer,
    add_rule,
    ledger,
    read,
    say,
    world,
)
from tests.factories import receive
from tests.messaging.support import Dispatched

# 13:00 UTC is 10:00 in São Paulo (outside the quiet hours); 02:00 UTC is 23:00 there
ASKED = dt.datetime(2026, 12, 1, 13, 0, tzinfo=dt.UTC)
DAYTIME = dt.datetime(2026, 12, 2, 13, 0, tzinfo=dt.UTC)
NIGHT = dt.datetime(2026, 12, 2, 2, 0, tzinfo=dt.UTC)


def interests_of(db: Database, customer_id: int) -> dict[tuple[str, str], Interest]:
    with db.read() as session:
        rows = session.scalars(select(Interest).where(Interest.customer_id == customer_id))
        return {(i.kind, i.ref): i for i in rows}


def offers(db: Database) -> list[Offer]:
    with db.read() as session:
        return list(session.scalars(select(Offer).order_by(Offer.id)))


def evaluate(db: Database, settings: Settings, now: dt.datetime) -> rules.EvalRun:
    with db.write() as session:
        return rules.evaluate(session, settings, now=now)


def test_interactions_become_interests_wishes_and_a_segment(
    db: Database, settings: Settings
) -> None:
    world(db)
    ana = add_customer(db, "ana")
    read(db, settings)  # the reader starts at the end of the outbox
    say(db, ana, "disponibilidade_produto", ASKED, skus=[IN_STOCK, MISSING], city="Campinas",
        state="SP")  # fmt: skip
    say(db, ana, "planos_ofertas", ASKED, plan="CTRL-20")
    say(db, ana, "planos_ofertas", ASKED + dt.timedelta(days=7), plan="CTRL-20", confidence=0.8)
    say(db, ana, "cancelamento", ASKED)
    say(db, ana, "informacao_produto", ASKED, category="celulares")
    say(db, ana, "saudacao", ASKED)  # no interest
    say(db, ana, "planos_ofertas", ASKED, plan="POS-50", confidence=0.2)  # too unsure
    run = read(db, settings)
    assert run.interactions == 7 and run.wishes == 1
    found = interests_of(db, ana)
    assert set(found) == {
        ("product", IN_STOCK),
        ("product", MISSING),
        ("back_in_stock", MISSING),  # available near her: no wish for the Galaxy
        ("plan_upgrade", "CTRL-20"),
        ("cancellation_risk", ""),
        ("category", "celulares"),
    }
    plan = found[("plan_upgrade", "CTRL-20")]
    assert plan.hits == 2 and plan.first_seen == ASKED
    assert plan.strength == pytest.approx(0.9 * 0.5 + 0.8)  # one half-life later, plus 0.8
    assert strength_now(plan, plan.strength_at + dt.timedelta(days=14), 7) == pytest.approx(
        (0.9 * 0.5 + 0.8) / 4
    )
    with db.read() as session:
        wish = wishes.get_wish(session, found[("back_in_stock", MISSING)].wish_id or 0)
        assert (wish.sku, wish.scope, wish.city, wish.source) == (MISSING, "city", "Campinas",
                                                                  "chat")  # fmt: skip
    assert read(db, settings).interactions == 0  # read once

    bia = add_customer(db, "bia")
    with db.read() as session:
        for criterion, expected in (
            ({"kind": "plan_upgrade"}, 1),
            ({"kind": "product", "ref": MISSING}, 1),
            ({"kind": "product", "ref": "OUTRO"}, 0),
        ):
            segment = Segment(interest=criterion)  # type: ignore[arg-type]
            count = customers.audience_count(session, segment, today=dt.date.today(),
                                             grace_days=10)  # fmt: skip
            assert count == expected, criterion
        assert bia  # consenting, never asked: outside every interest segment

    with db.read() as session:
        exported = service.export_customer(session, ana)
    assert len(exported["interests"]) == 6
    with db.write() as session:
        assert service.erase_customer(session, ana) == {"interests": 6}
    assert interests_of(db, ana) == {}


def test_rules_respect_consent_suppression_cap_and_quiet_hours_once_per_trigger(
    db: Database, settings: Settings, dispatched: Dispatched
) -> None:
    world(db)
    ana = add_customer(db, "ana")
    bia = add_customer(db, "bia", purposes=("service",))  # no marketing consent
    caio = add_customer(db, "caio")
    with db.write() as session:
        customers.suppress(session, "caio@exemplo.com.br", reason="unsubscribed",
                           purpose="marketing")  # fmt: skip
    read(db, settings)
    for person in (ana, bia, caio):
        say(db, person, "planos_ofertas", ASKED, plan="CTRL-20")
        say(db, person, "cancelamento", ASKED)
    read(db, settings)
    plan_rule = add_rule(db, "plan_upgrade", "automation.plan_offer")
    add_rule(db, "cancellation_risk", "automation.retention_offer")
    add_rule(db, "plan_upgrade", "automation.plan_offer", min_strength=2.0)  # too strong

    night = evaluate(db, settings, NIGHT)
    assert night.quiet == 2 and night.sent == 0 and ledger(db) == []
    day = evaluate(db, settings, DAYTIME)
    # ana only (bia: no consent, caio: suppressed), and one offer in the cap's window
    assert (day.sent, day.no_consent, day.capped) == (1, 4, 1)
    [offer] = offers(db)
    assert (offer.customer_id, offer.rule_id) == (ana, plan_rule)
    assert offer.trigger == "plan_upgrade:CTRL-20"
    [entry] = ledger(db)
    assert entry.customer_id == ana and entry.purpose == "marketing"
    assert entry.kind == "automation.offer" and entry.status == "pending"
    assert (
        entry.dedupe_key == f"automation.offer:rule:{plan_rule}:customer:{ana}:plan_upgrade:CTRL-20"
    )
    assert entry.context["offer_code"] == offer.code and entry.context["plan_name"] == "CTRL-20"
    assert evaluate(db, settings, DAYTIME).sent == 0  # same trigger: never twice
    later = DAYTIME + dt.timedelta(days=settings.automation_cap_days, hours=1)
    say(db, ana, "cancelamento", later - dt.timedelta(hours=1))  # keeps the interest fresh
    read(db, settings)
    assert evaluate(db, settings, later).sent == 1  # the cap's window passed: the retention one
    assert evaluate(db, settings, later).sent == 0
    assert [o.trigger for o in offers(db)] == ["plan_upgrade:CTRL-20", "cancellation_risk:"]


def test_two_evaluations_at_once_make_one_offer(
    db: Database, settings: Settings, database_url: str, dispatched: Dispatched
) -> None:
    world(db)
    people = [add_customer(db, f"p{n}") for n in range(4)]
    read(db, settings)
    for person in people:
        say(db, person, "planos_ofertas", ASKED)
    read(db, settings)
    add_rule(db, "plan_upgrade", "automation.plan_offer")
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []
    counts: list[int] = []

    def evaluator() -> None:
        other = Database(database_url)
        try:
            barrier.wait()
            with other.write() as session:
                counts.append(rules.evaluate(session, settings, now=DAYTIME).sent)
        except BaseException as exc:
            errors.append(exc)
        finally:
            other.dispose()

    threads = [threading.Thread(target=evaluator) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    assert sorted(counts) == [0, len(people)]
    assert sorted(e.customer_id for e in ledger(db)) == sorted(people)


def test_the_wish_is_shared_with_the_back_in_stock_notice(
    db: Database, settings: Settings, dispatched: Dispatched
) -> None:
    world(db)
    ana = add_customer(db, "ana", purposes=("marketing", "service"))
    bia = add_customer(db, "bia", purposes=("marketing", "service"))
    with db.write() as session:
        wishes.process_changes(session, settings)  # the notice's reader starts
    read(db, settings)
    for person in (ana, bia):
        say(db, person, "disponibilidade_produto", ASKED, skus=[MISSING])
    read(db, settings)
    add_rule(db, "back_in_stock", "automation.back_in_stock_offer")
    assert evaluate(db, settings, DAYTIME).not_available == 2  # nothing back yet

    with db.write() as session:
        receive(session, MISSING, "LJ-CPS-1", 3)
    # ana: the automation runs first and claims her wish; the notice then skips it
    with db.write() as session:
        ana_wish = interests_of(db, ana)[("back_in_stock", MISSING)].wish_id
        bia_wish = interests_of(db, bia)[("back_in_stock", MISSING)].wish_id
        assert ana_wish and bia_wish
        assert wishes.claim(session, bia_wish, via="back_in_stock")  # bia's: the notice won
    run = evaluate(db, settings, DAYTIME)
    assert run.sent == 1 and run.not_available == 1
    with db.write() as session:
        notice = wishes.process_changes(session, settings)
    assert notice.notified == 0  # ana's wish was claimed by the offer
    with db.read() as session:
        assert wishes.get_wish(session, ana_wish).notified_via == "assistant_offer"
        assert wishes.get_wish(session, bia_wish).notified_via == "back_in_stock"
    [entry] = ledger(db)
    assert entry.customer_id == ana and entry.kind == "automation.offer"
    assert entry.context["place"].startswith("Loja") and "Campinas/SP" in entry.context["place"]
    assert evaluate(db, settings, DAYTIME).sent == 0


def test_a_reservation_with_the_offer_code_converts_it(
    db: Database, settings: Settings, dispatched: Dispatched
) -> None:
    world(db)
    ana = add_customer(db, "ana")
    read(db, settings)
    say(db, ana, "informacao_produto", ASKED, skus=[IN_STOCK])
    add_rule(db, "product", "automation.product_offer")
    run = service.run_once(db, settings, now=DAYTIME)  # what the beat task runs
    assert (run.interactions, run.interests, run.offers) == (1, 1, 1)
    [offer] = offers(db)
    with db.write() as session:
        other = reservations.reserve(
            session, "site", [ReservationLineIn(sku=IN_STOCK, qty=1, location="LJ-CPS-1")],
            ttl_seconds=600, order_reference="PEDIDO-1",
        )  # fmt: skip
        reservations.commit_reservation(session, other.id, "site")
    with db.write() as session:
        assert record_conversions(session, settings, now=DAYTIME) == 0
    with db.write() as session:
        held = reservations.reserve(
            session, "site", [ReservationLineIn(sku=IN_STOCK, qty=1, location="LJ-CPS-1")],
            ttl_seconds=600, order_reference=offer.code,
        )  # fmt: skip
    with db.write() as session:
        assert record_conversions(session, settings) == 0  # held, not committed yet
        reservations.commit_reservation(session, held.id, "site")
    with db.write() as session:
        assert record_conversions(session, settings) == 1
    [converted] = offers(db)
    assert converted.converted_at is not None and converted.conversion == f"reserva {held.id}"
    today = dt.date.today()
    with db.read() as session:
        outcome = service.results(session, settings, today - dt.timedelta(days=400 - 1), today,
                                  "America/Sao_Paulo")  # fmt: skip
    [rule_result] = outcome.rules
    assert (rule_result.offers, rule_result.conversions) == (1, 1)
    assert sum(d.conversions for d in outcome.days) == 1


def test_a_purchase_by_the_offered_customer_converts_within_the_window_only(
    db: Database, settings: Settings, dispatched: Dispatched
) -> None:
    """Without the offer's code, the customer's own committed reservation of the offered
    product converts it — within ``automation_conversion_days`` of the offer, not after, and
    not someone else's."""
    world(db)
    ana = add_customer(db, "ana")
    bia = add_customer(db, "bia")
    read(db, settings)
    say(db, ana, "informacao_produto", ASKED, skus=[IN_STOCK])
    add_rule(db, "product", "automation.product_offer")
    assert service.run_once(db, settings, now=DAYTIME).offers == 1
    [offer] = offers(db)
    with db.write() as session:  # the offer went out five days before the purchases below
        session.get(Offer, offer.id).sent_at = dt.datetime.now(dt.UTC) - dt.timedelta(days=5)  # type: ignore[union-attr]

    def buy(customer_id: int) -> str:
        with db.write() as session:
            held = reservations.reserve(
                session, "site", [ReservationLineIn(sku=IN_STOCK, qty=1, location="LJ-CPS-1")],
                ttl_seconds=600, customer_id=customer_id,
            )  # fmt: skip
            reservations.commit_reservation(session, held.id, "site")
        return str(held.id)

    buy(bia)  # another customer's purchase is not this offer's conversion
    with db.write() as session:
        assert record_conversions(session, settings) == 0
    own = buy(ana)
    four_days = settings.model_copy(update={"automation_conversion_days": 4})
    with db.write() as session:
        assert record_conversions(session, four_days) == 0  # five days after: outside
    assert offers(db)[0].converted_at is None
    six_days = settings.model_copy(update={"automation_conversion_days": 6})
    with db.write() as session:
        assert record_conversions(session, six_days) == 1
    [converted] = offers(db)
    assert converted.converted_at is not None and converted.conversion == f"reserva {own}"
