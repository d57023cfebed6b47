"""Scripted customer conversations (``data/conversations.tsv``) run through the dialogue and
judged: the measure of how many conversations the bot resolves without a person
(``bench/assistant_resolution.py``; a sample runs in CI).

A conversation is **resolved by the bot** when it never went to a person and the bot's last
reply answered (kind ``answer`` or ``farewell``; not a question, a clarification or a
refusal). Each script also says what a good assistant should do (``bot`` or ``person``), so the
report shows both the resolution share and the conversations the bot got wrong either way.

:func:`demo_world` builds the demo-like data the scripts are written against: the demo
operator (stores across Brazil, its catalog, plans and promotions, customers and invoices),
the simulated document service's datasheets, and one order made for the scripted customer."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import text

from sincro.assistant import conversations
from sincro.config import Settings
from sincro.db import Database

DATA = Path(__file__).parent / "data" / "conversations.tsv"
RESOLVED_KINDS = ("answer", "farewell")


@dataclass(frozen=True)
class Script:
    line: int
    expect: str  # bot | person
    turns: tuple[str, ...]


@dataclass
class Outcome:
    script: Script
    state: str
    last_kind: str
    handoff_reason: str | None
    replies: list[str] = field(default_factory=list)

    @property
    def resolved(self) -> bool:
        return self.state == "bot" and self.last_kind in RESOLVED_KINDS

    @property
    def as_expected(self) -> bool:
        return self.resolved == (self.script.expect == "bot")


def load(path: Path = DATA) -> list[Script]:
    scripts = []
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not raw.strip() or raw.startswith("#"):
            continue
        expect, _, body = raw.partition("\t")
        if expect not in ("bot", "person") or not body.strip():
            raise ValueError(f"{path.name}:{number}: expected 'bot|person<TAB>turn || turn'")
        turns = tuple(t.strip() for t in body.split("||") if t.strip())
        scripts.append(Script(number, expect, turns))
    return scripts


def run(db: Database, settings: Settings, script: Script, values: dict[str, str]) -> Outcome:
    """One scripted conversation, each turn in its own transaction as the API does it."""
    with db.write() as session:
        conversation, _ = conversations.start(session, channel="script")
        conversation_id = conversation.id
    replies = []
    for turn in script.turns:
        with db.write() as session:
            reply = conversations.post_customer(
                session, settings, conversation_id, turn.format(**values)
            )
        replies.append(reply.reply)
    with db.read() as session:
        conversation = conversations.get(session, conversation_id)
        bot = [m for m in conversations.transcript(session, conversation_id) if m.sender == "bot"]
        kind = str((bot[-1].payload or {}).get("kind", "")) if bot else ""
        return Outcome(script, conversation.state, kind, conversation.handoff_reason, replies)


def run_all(
    db: Database, settings: Settings, scripts: Iterable[Script], values: dict[str, str]
) -> list[Outcome]:
    return [run(db, settings, s, values) for s in scripts]


def demo_world(
    db: Database,
    *,
    stores: int = 300,
    products: int = 300,
    customers: int = 300,
    documents: int = 900,
) -> dict[str, str]:
    """Load the demo-like data into ``db`` (empty, migrated) and return the placeholder values
    of the scripts: a demo customer's CPF, birth date, open invoice and order."""
    from sincro.catalog.documents import apply_documents
    from sincro.connectors.rest.mapping import html_to_text
    from sincro.demo.loader import load_demo
    from sincro.inventory import service as inventory
    from sincro.inventory.schemas import ReservationLineIn
    from sincro.simulators.rest import DocumentsSimulator
    from sincro.text_pt import format_cpf

    load_demo(db.url, stores=stores, dcs=5, products=products, customers=customers, offers=True)
    docs = DocumentsSimulator(documents=documents, products=products)
    records = [docs.record(p) for p in range(len(docs.feed))]
    with db.write() as session:
        apply_documents(session, "docs", [_document(r, html_to_text) for r in records])
    with db.read() as session:
        row = session.execute(
            text(
                "SELECT c.id, c.document, c.birth_date, r.number FROM customers c "
                "JOIN receivables r ON r.customer_id = c.id "
                "WHERE c.document_kind = 'cpf' AND c.birth_date IS NOT NULL "
                "AND c.merged_into_id IS NULL AND r.status = 'open' AND r.balance > 0 "
                "ORDER BY c.id LIMIT 1"
            )
        ).one()
        sku = session.execute(
            text("SELECT sku FROM products WHERE category = 'smartphones' ORDER BY sku LIMIT 1")
        ).scalar_one()
    born = (
        row.birth_date
        if isinstance(row.birth_date, dt.date)
        else dt.date.fromisoformat(str(row.birth_date))
    )
    reference = "PED-2026-000321"
    with db.write() as session:
        inventory.reserve(
            session, "script", [ReservationLineIn(sku=sku, qty=1)], 86_400,
            order_reference=reference, customer_id=int(row.id),
        )  # fmt: skip
    return {
        "cpf": format_cpf(row.document),
        "cpf_digits": row.document,
        "nascimento": born.strftime("%d/%m/%Y"),
        "fatura": str(row.number),  # as printed on the invoice
        "pedido": reference,
    }


def _document(record: dict[str, Any], to_text: Any) -> Any:
    from sincro.catalog.documents import DocumentIn

    kind = "datasheet" if record["type"] == "ficha" else record["type"]
    return DocumentIn(
        external_id=record["id"],
        title=record["title"],
        body=to_text(record["body_html"]),
        version=record["version"],
        sku=record["sku"],
        language=record["language"],
        effective_date=dt.date.fromisoformat(record["effective_date"]),
        kind=kind,
    )
