"""Back-in-stock: the wish list's API, and the inventory change feed triggering one notice
per wish, once, even with two readers at the same time."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from sincro.access.models import Role
from sincro.app import create_app
from sincro.config import Settings
from sincro.customers import service as customers
from sincro.db import Database
from sincro.messaging.models import LedgerEntry
from sincro.wishes import service
from sincro.wishes.exceptions import AlreadyAvailable
from sincro.wishes.schemas import WishIn
from tests.factories import make_key, make_location, make_product, receive
from tests.feed.conftest import wake_requests
from tests.messaging.support import Dispatched, drain, messaging_settings, sender_for
from tests.smtp_sink import SmtpSink


def add_customer(db: Database, code: str, *, consent: bool = True) -> int:
    with db.write() as session:
        customers.upsert_customers(
            session,
            "erp",
            [(code, {"code": code, "name": f"Maria {code}", "email": f"{code}@exemplo.com.br",
                     "state": "SP", "city": "Campinas"})],
        )  # fmt: skip
    with db.read() as session:
        from sincro.customers.lookup import find_customer

        found = find_customer(session, email=f"{code}@exemplo.com.br")
        assert found is not None
    if consent:
        with db.write() as session:
            customers.record_consent(
                session, found.customer_id, channel="email", purpose="service",
                granted=True, source="test", evidence="fixture",
            )  # fmt: skip
    return found.customer_id


def setup_world(db: Database) -> dict[str, Any]:
    with db.write() as session:
        here = make_location(session, code="LJ-CPS-1", city="Campinas", state="SP")
        make_location(session, code="LJ-CPS-2", city="Campinas", state="SP", ships_online=False)
        make_location(session, code="LJ-RJ-1", city="Rio de Janeiro", state="RJ")
        product = make_product(session, sku="CEL-A05-PRETO", name="Galaxy A05 Preto")
    return {"location": here.code, "sku": product.sku}


def wish(db: Database, settings: Settings, **fields: Any) -> int:
    with db.write() as session:
        made, created = service.create_wish(
            session, WishIn.model_validate(fields), max_open=settings.wishes_max_open_per_customer
        )
        assert created
        return made.id


def process(db: Database, settings: Settings) -> service.FeedRun:
    with db.write() as session:
        return service.process_changes(session, settings)


def ledger(db: Database) -> list[LedgerEntry]:
    with db.read() as session:
        return list(session.scalars(select(LedgerEntry).order_by(LedgerEntry.id)))


def test_the_api_takes_wishes_by_id_or_email_and_names_bad_fields(
    db: Database, settings: Settings
) -> None:
    world = setup_world(db)
    customer = add_customer(db, "ana")
    with db.write() as session:
        channel = make_key(session, Role.channel)
        store = make_key(session, Role.store, ("LJ-CPS-1",))
    with TestClient(create_app(settings)) as client:
        h = {"X-API-Key": channel}
        body = {"email": "ANA@exemplo.com.br ", "sku": world["sku"], "location": "online",
                "source": "web"}  # fmt: skip
        first = client.post("/v1/stock-wishes", json=body, headers=h)
        assert first.status_code == 201, first.text
        made = first.json()
        assert made["customer_id"] == customer and made["scope"] == "online" and made["created"]
        again = client.post("/v1/stock-wishes", json=body, headers=h)
        assert again.status_code == 200 and again.json()["id"] == made["id"]
        city = client.post(
            "/v1/stock-wishes",
            json={"customer_id": customer, "sku": world["sku"], "city": "Campinas", "state": "sp"},
            headers=h,
        )
        assert city.status_code == 201 and city.json()["state"] == "SP"
        for bad, field in (
            ({"email": "ninguem@exemplo.com.br", "sku": world["sku"], "location": "online"},
             "email"),
            ({"customer_id": customer, "sku": "NAO-EXISTE", "location": "online"}, "sku"),
            ({"customer_id": customer, "sku": world["sku"], "location": "LJ-XX"}, "location"),
        ):  # fmt: skip
            answer = client.post("/v1/stock-wishes", json=bad, headers=h)
            assert answer.status_code == 422, answer.text
            assert answer.json()["error"]["field"] == field
        both = {"customer_id": customer, "sku": world["sku"], "location": "online",
                "city": "Campinas", "state": "SP"}  # fmt: skip
        assert client.post("/v1/stock-wishes", json=both, headers=h).status_code == 422
        assert (
            client.post("/v1/stock-wishes", json=body, headers={"X-API-Key": store}).status_code
            == 403
        )
        listed = client.get("/v1/stock-wishes", params={"customer_id": customer}, headers=h).json()
        assert listed["total"] == 2
        assert client.get(f"/v1/stock-wishes/{made['id']}", headers=h).json()["sku"] == world["sku"]
        assert client.delete(f"/v1/stock-wishes/{made['id']}", headers=h).status_code == 204
        assert client.delete(f"/v1/stock-wishes/{made['id']}", headers=h).status_code == 404


def test_a_movement_through_inventory_triggers_each_matching_wish_once(
    db: Database, settings: Settings, dispatched: Dispatched
) -> None:
    world = setup_world(db)
    ana, bia, caio = (add_customer(db, c) for c in ("ana", "bia", "caio"))
    process(db, settings)  # the reader starts at the end of the outbox
    at_store = wish(db, settings, customer_id=ana, sku=world["sku"], location="LJ-CPS-1")
    online = wish(db, settings, customer_id=bia, sku=world["sku"], location="online")
    in_city = wish(db, settings, customer_id=caio, sku=world["sku"], city="Campinas", state="SP")
    elsewhere = wish(db, settings, customer_id=ana, sku=world["sku"], location="LJ-RJ-1")

    with db.write() as session:
        receive(session, world["sku"], "LJ-CPS-1", 5)  # 0 → 5 at the Campinas store
    run = process(db, settings)
    assert run.notified == 3
    with db.write() as session:
        receive(session, world["sku"], "LJ-CPS-1", 3)  # 5 → 8: no second notice
        receive(session, world["sku"], "LJ-CPS-2", 2)  # another Campinas store: already told
    assert process(db, settings).notified == 0

    keys = [row.dedupe_key for row in ledger(db)]
    assert sorted(keys) == sorted(
        f"wishes.back_in_stock:wish:{i}" for i in (at_store, online, in_city)
    )
    with db.read() as session:
        rows = {w.id: w for w in service.list_wishes(session, limit=10)[0]}
    assert rows[elsewhere].notified_at is None
    for i in (at_store, online, in_city):
        assert rows[i].notified_via == "back_in_stock" and rows[i].trigger_location == "LJ-CPS-1"
        trigger = rows[i].trigger_seq
        assert trigger is not None and trigger > rows[i].since_seq

    # a wish made after the change is not fulfilled by it, only by a later one
    late = wish(db, settings, customer_id=caio, sku=world["sku"], location="LJ-RJ-1")
    assert process(db, settings).notified == 0
    with db.write() as session:
        receive(session, world["sku"], "LJ-RJ-1", 1)
    assert process(db, settings).notified == 2  # ana's and caio's Rio wishes
    with db.read() as session:
        assert service.get_wish(session, late).trigger_location == "LJ-RJ-1"


def test_two_readers_at_once_notify_each_wish_once(
    db: Database, settings: Settings, database_url: str, dispatched: Dispatched
) -> None:
    world = setup_world(db)
    people = [add_customer(db, f"p{n}") for n in range(8)]
    process(db, settings)
    ids = [wish(db, settings, customer_id=p, sku=world["sku"], location="online") for p in people]
    with db.write() as session:
        for n in range(5):
            receive(session, world["sku"], "LJ-CPS-1", 1 + n)
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []
    counts: list[int] = []

    def reader() -> None:
        other = Database(database_url)
        try:
            barrier.wait()
            with other.write() as session:
                counts.append(service.process_changes(session, settings).notified)
        except BaseException as exc:
            errors.append(exc)
        finally:
            other.dispose()

    threads = [threading.Thread(target=reader) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    assert sorted(counts) == [0, len(ids)]
    assert sorted(r.dedupe_key for r in ledger(db)) == sorted(
        f"wishes.back_in_stock:wish:{i}" for i in ids
    )


def test_a_wish_for_a_place_that_has_the_product_now_is_refused(
    db: Database, settings: Settings
) -> None:
    world = setup_world(db)
    ana = add_customer(db, "ana")
    with db.write() as session:
        receive(session, world["sku"], "LJ-CPS-2", 4)  # a Campinas store that does not ship
    for place in ({"location": "LJ-CPS-2"}, {"city": "campinas", "state": "SP"}):
        with db.write() as session, pytest.raises(AlreadyAvailable) as refused:
            service.create_wish(
                session,
                WishIn.model_validate({"customer_id": ana, "sku": world["sku"], **place}),
                max_open=5,
            )
        assert refused.value.details == [{"location": "LJ-CPS-2", "available": 4}]
        assert refused.value.status_code == 409 and refused.value.code == "already_available"
    # online (LJ-CPS-2 does not ship) and another store still have none: those wait
    wish(db, settings, customer_id=ana, sku=world["sku"], location="online")
    wish(db, settings, customer_id=ana, sku=world["sku"], location="LJ-CPS-1")


def test_claim_is_shared_with_other_actors(db: Database, settings: Settings) -> None:
    """The assistant's offers claim the same wish: whoever claims first acts, once."""
    world = setup_world(db)
    ana = add_customer(db, "ana")
    made = wish(db, settings, customer_id=ana, sku=world["sku"], location="online")
    with db.write() as session:
        assert service.claim(session, made, via="offer:rule-1")
        assert not service.claim(session, made, via="back_in_stock")
    with db.write() as session:
        receive(session, world["sku"], "LJ-CPS-1", 4)
    assert process(db, settings).notified == 0


@pytest.mark.timeout(60)
def test_end_to_end_a_back_in_stock_mail_reaches_the_smtp_sink(
    db: Database, settings: Settings, sink: SmtpSink, dispatched: Dispatched
) -> None:
    world = setup_world(db)
    ana = add_customer(db, "ana")
    process(db, settings)
    wish(db, settings, customer_id=ana, sku=world["sku"], location="LJ-CPS-1", source="chat")
    with db.write() as session:
        receive(session, world["sku"], "LJ-CPS-1", 2)
    assert process(db, settings).notified == 1
    with sender_for(db, messaging_settings(settings, sink.port)) as sender:
        drain(sender, dispatched)
    [message] = sink.messages
    assert message["To"].endswith("ana@exemplo.com.br>") or "ana@exemplo.com.br" in message["To"]
    assert message["Subject"] == "Chegou! Galaxy A05 Preto está disponível"
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "Olá, Maria!" in text and "CEL-A05-PRETO" in text
    assert "Loja" in text and "Campinas/SP" in text
    html = message.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert "<strong>Galaxy A05 Preto</strong>" in html
    assert [r.status for r in ledger(db)] == ["sent"]


def test_the_beat_task_reads_until_caught_up_and_idles_without_writing(
    db: Database, settings: Settings, database_url: str, monkeypatch: pytest.MonkeyPatch,
    dispatched: Dispatched,
) -> None:  # fmt: skip
    from sincro.config import reset_settings
    from sincro.feed import service as feed
    from sincro.wishes import tasks

    monkeypatch.setenv("SINCRO_DATABASE_URL", database_url)
    monkeypatch.setenv("SINCRO_WISHES_SCAN_BATCH", "10")
    reset_settings()
    world = setup_world(db)
    people = [add_customer(db, f"t{n}") for n in range(3)]
    assert tasks.back_in_stock() == 0  # first run: starts at the end of the outbox
    for p in people:
        wish(db, settings, customer_id=p, sku=world["sku"], location="online")
    with db.write() as session:
        for _ in range(25):  # more events than one batch of 10
            receive(session, world["sku"], "LJ-CPS-2", 1)  # Campinas 2 does not ship online
        receive(session, world["sku"], "LJ-CPS-1", 1)
    with db.read() as session:
        assert service.has_changes(session)
    assert tasks.back_in_stock() == 3
    with db.read() as session:
        assert not service.has_changes(session)
        assert not feed.outbox_reader_behind(session, service.READER)
    assert tasks.back_in_stock() == 0


def test_the_reader_runs_on_commits_on_postgresql_and_asks_again_when_left_behind(
    db: Database, settings: Settings, database_url: str, monkeypatch: pytest.MonkeyPatch,
    dispatched: Dispatched,
) -> None:  # fmt: skip
    """SQLite: beat asks every few seconds whether the feed moved (the gate). PostgreSQL: beat
    sends the reader after outbox commits (``sincro.beat``), so a run that stops behind the
    feed (a hole it waits on, a cut run) asks for the next one; a run that caught up does not."""
    from sincro.beat import Wake
    from sincro.config import reset_settings
    from sincro.wishes import tasks
    from sincro.wishes.schedule import beat_entries, feed_has_changes

    entry = beat_entries(settings)["wishes-back-in-stock"]
    assert entry["gate"] is feed_has_changes
    if db.is_sqlite:
        assert entry["schedule"] == settings.wishes_scan_every_seconds and "wake" not in entry
        return
    assert entry["schedule"] == settings.wishes_scan_safety_poll_seconds
    assert entry["wake"] == Wake(gap=settings.wishes_scan_every_seconds, on_events=True)
    monkeypatch.setenv("SINCRO_DATABASE_URL", database_url)
    reset_settings()
    world = setup_world(db)
    tasks.back_in_stock()  # starts at the end of the outbox
    with wake_requests(db.url) as caught_up:
        with db.write() as session:
            receive(session, world["sku"], "LJ-CPS-2", 1)
        tasks.back_in_stock()
    assert caught_up == []
    with db.write() as late:  # draws the next number and stays open: a hole for the reader
        receive(late, world["sku"], "LJ-CPS-1", 1)  # another level: no lock between the two
        with db.write() as session:
            receive(session, world["sku"], "LJ-CPS-2", 1)
        with wake_requests(db.url) as held:
            tasks.back_in_stock()
        assert held == [f"{tasks.TASK} 0.000"]
        late.rollback()


def test_a_customers_wishes_are_exported_and_erased(db: Database, settings: Settings) -> None:
    world = setup_world(db)
    ana, bia = add_customer(db, "ana"), add_customer(db, "bia")
    mine = wish(db, settings, customer_id=ana, sku=world["sku"], location="online")
    wish(db, settings, customer_id=bia, sku=world["sku"], location="online")
    with db.read() as session:
        exported = service.export_customer(session, ana)
    assert [(w["id"], w["sku"], w["scope"]) for w in exported] == [(mine, world["sku"], "online")]
    with db.write() as session:
        assert service.erase_customer(session, ana) == 1
    with db.read() as session:
        assert service.export_customer(session, ana) == []
        assert len(service.export_customer(session, bia)) == 1
