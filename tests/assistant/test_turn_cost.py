"""What one customer turn costs the database, as ``POST …/conversations/{id}/messages`` runs
it: a budget of SQL statements per kind of turn, on SQLite and PostgreSQL, with the caches
warm. A budget fails when someone adds a round trip to the turn (a second read of the
conversation, a flush per message, an uncached catalog question); lower it when a change
saves one. Statements are counted on every engine of this thread (the search engine's and the
identity counter's included); SQLite's ``BEGIN``, which Sincro emits itself, is not counted."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine

from sincro.access.models import Role
from sincro.access.service import Principal
from sincro.assistant import conversations, endpoints, entities
from sincro.catalog import recent, service as catalog
from sincro.config import Settings
from sincro.db import Database
from sincro.sharedstate import DatabaseSharedState
from tests.assistant import world
from tests.assistant.test_dialogue import seeded  # noqa: F401  (the seeded world fixture)

ADMIN = Principal(0, "test", Role.admin, frozenset(), None)

#: (what the customer says, the most statements that turn may run), played in order in one
#: conversation; the first three are a fresh customer's, the rest come after verification
SCRIPT: list[tuple[str, int]] = [
    # the conversation's locked read, its UPDATE, one INSERT of message and reply
    ("oi", 3),
    # + the stock read (expired holds, levels); the product's id and names are cached
    ("vcs tem o galaxy a05 em niteroi?", 5),
    # plans and promotions in force are cached
    ("quais os planos controle?", 3),
    ("quero a segunda via da minha fatura", 3),
    # + the identity counter, the CPF's customer
    (world.CPF, 5),
    # + the second factor (2), the invoice (4: customer, merged ids, receivables, payment),
    # the conversation's customer (autoflushed by those reads), the interaction event
    (world.BIRTH.strftime("%d/%m/%Y"), 11),
    # + the customer's name, the interaction event
    ("oi", 5),
    # + the queue (its UPDATE and change event, the place in it, recent waits, the place
    # again for the action) and the turn's change event
    ("quero falar com um atendente", 10),
    # a person answers: the message alone, and its change event
    ("alguem ai?", 4),
]


@pytest.fixture
def warm(monkeypatch: pytest.MonkeyPatch) -> None:
    """Caches that expire in seconds stay warm for the whole test, however slow the machine,
    and the shared counters' purge (once a while, whoever calls) is not the turn's cost."""
    monkeypatch.setattr(DatabaseSharedState, "purge", lambda self: None)
    monkeypatch.setattr(catalog, "DIRECTORY_TTL_SECONDS", 3600.0)
    monkeypatch.setattr(recent.RECENT, "ttl", 3600.0)
    monkeypatch.setattr(entities, "CATALOG_TTL_SECONDS", 3600.0)


class Statements:
    def __init__(self) -> None:
        self.thread = threading.get_ident()
        self.seen: list[str] = []

    def __call__(self, _conn: Any, _cursor: Any, sql: str, *_: Any) -> None:
        if threading.get_ident() == self.thread and not sql.startswith("BEGIN"):
            self.seen.append(sql)


@pytest.fixture
def statements() -> Iterator[Statements]:
    counter = Statements()
    event.listen(Engine, "before_cursor_execute", counter)
    yield counter
    event.remove(Engine, "before_cursor_execute", counter)


def play(db: Database, settings: Settings, statements: Statements | None) -> list[list[str]]:
    with db.write() as s:
        conversation_id = conversations.start(s, channel="api")[0].id
    seen = []
    for text, _budget in SCRIPT:
        if statements is not None:
            statements.seen.clear()
        with db.write() as s:
            endpoints.customer_turn(s, settings, conversation_id, text, ADMIN)
        seen.append(list(statements.seen) if statements is not None else [])
    return seen


def test_a_turn_runs_few_statements(
    seeded: tuple[Database, Settings, dict[str, int | str]],  # noqa: F811
    warm: None,
    statements: Statements,
) -> None:
    db, settings, _ = seeded
    play(db, settings, None)  # the classifier, the directory, the names, the offers
    counted = play(db, settings, statements)
    over = {
        text: [" ".join(sql.split())[:120] for sql in sqls]
        for (text, budget), sqls in zip(SCRIPT, counted, strict=True)
        if len(sqls) > budget
    }
    assert not over, over
    assert [len(sqls) for sqls in counted] == [budget for _, budget in SCRIPT]
