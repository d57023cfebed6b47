"""What one assistant turn costs in process: SQL statements, transactions and CPU per turn kind
(greeting, stock, datasheet, plans, identity steps, order status, invoice, handoff), on SQLite
and PostgreSQL, over the demo-like world of the load benchmark (``scripted.demo_world``).

    PYTHONPATH=src:. python -m bench.assistant_turn [--kinds sqlite,postgresql] [--rounds 20]
    PYTHONPATH=src:. python -m bench.assistant_turn --sql stock   # print one turn's statements

Each round plays the same conversations from the start (a new conversation each), every turn
in its own write transaction behind the API's visibility check, as ``POST
…/conversations/{id}/messages`` runs it. Statements are every cursor execution on any engine
of this thread (``BEGIN`` included on SQLite, where Sincro emits it); transactions are the
engines' ``begin`` events. CPU is this thread's (``time.thread_time``), the median and 90th
percentile over the rounds after one warm-up round, per kind and over every turn ("all", which
also gives the mean CPU and statements per turn): it is noisy on a busy machine, the counts are
exact."""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from bench.harness import _pg_admin, _pg_url
from sincro.access.models import Role
from sincro.access.service import Principal
from sincro.assistant import conversations, endpoints, scripted
from sincro.assistant.classifier import classifier
from sincro.config import Settings
from sincro.db import Database, reset_databases
from sincro.migrate import upgrade

#: (kind, text): conversations played in order; the kind names the turn in the report
CONVERSATIONS: tuple[tuple[tuple[str, str], ...], ...] = (
    (("greeting", "oi"), ("stock", "tem galaxy a05 em sao paulo?")),
    (("stock_ask", "tem o galaxy a05?"), ("stock_slot", "salvador")),
    (("datasheet", "qual a garantia do galaxy a05?"),),
    (("plans", "quais planos controle vcs tem?"),),
    (
        ("identity_ask", "cade meu pedido?"),
        ("identity_cpf", "{cpf}"),
        ("identity_factor_order", "{nascimento}"),
        ("order_status", "qual o status do meu pedido {pedido}"),
        ("invoice", "quero a segunda via da fatura"),
        ("greeting_known", "oi"),
    ),
    (("handoff", "quero falar com um atendente"), ("waiting", "alguem ai?")),
)


class Meter:
    """Statements and transactions of this thread on every engine."""

    def __init__(self) -> None:
        self.thread = threading.get_ident()
        self.statements: list[str] = []
        self.begins = 0
        event.listen(Engine, "before_cursor_execute", self._statement)
        event.listen(Engine, "begin", self._begin)

    def _statement(self, _conn: Any, _cur: Any, sql: str, *_: Any) -> None:
        if threading.get_ident() == self.thread:
            self.statements.append(sql)

    def _begin(self, _conn: Any) -> None:
        if threading.get_ident() == self.thread:
            self.begins += 1

    @contextmanager
    def turn(self) -> Iterator[dict[str, Any]]:
        self.statements.clear()
        self.begins = 0
        out: dict[str, Any] = {}
        started = time.thread_time()
        yield out
        out["cpu"] = time.thread_time() - started
        out["statements"] = list(self.statements)
        out["transactions"] = self.begins


def _p90(seconds: Iterable[float]) -> float:
    """The 90th percentile in milliseconds (inclusive method)."""
    values = list(seconds)
    if len(values) < 2:
        return round(values[0] * 1000, 2)
    return round(statistics.quantiles(values, n=10, method="inclusive")[-1] * 1000, 2)


ADMIN = Principal(0, "bench", Role.admin, frozenset(), None)


def _turn(db: Database, settings: Settings, conversation_id: int, text: str) -> str:
    def work(session: Session) -> str:
        return endpoints.customer_turn(session, settings, conversation_id, text, ADMIN).reply

    return db.write_retrying(work)


def measure(url: str, workdir: Path, rounds: int, show: str | None) -> dict[str, Any]:
    upgrade(url)
    db = Database(url)
    values = scripted.demo_world(db, stores=300, products=300, customers=300)
    settings = Settings(
        database_url=url,
        var_dir=workdir,
        log_json=False,
        assistant_service_hours_weekdays="00:00-24:00",
        assistant_service_hours_saturday="00:00-24:00",
        assistant_service_hours_sunday="00:00-24:00",
    )
    classifier()
    meter = Meter()
    seen: dict[str, list[dict[str, Any]]] = {}
    for round_ in range(rounds + 1):
        for script in CONVERSATIONS:
            with db.write() as session:
                conversation_id = conversations.start(session, channel="api")[0].id
            for kind, text in script:
                with meter.turn() as out:
                    _turn(db, settings, conversation_id, text.format(**values))
                if round_:  # the first round warms the caches and the classifier
                    seen.setdefault(kind, []).append(out)
    db.dispose()
    reset_databases()
    every = [o["cpu"] for outs in seen.values() for o in outs]
    report: dict[str, Any] = {
        "all": {
            "turns": len(every),
            "statements_mean": round(
                statistics.fmean(len(o["statements"]) for outs in seen.values() for o in outs), 2
            ),
            "cpu_ms_mean": round(statistics.fmean(every) * 1000, 2),
            "cpu_ms_median": round(statistics.median(every) * 1000, 2),
            "cpu_ms_p90": _p90(every),
        }
    }
    for kind, outs in seen.items():
        counts = {len(o["statements"]) for o in outs}
        report[kind] = {
            "statements": max(counts),
            "statements_min": min(counts),
            "transactions": max(o["transactions"] for o in outs),
            "cpu_ms_median": round(statistics.median(o["cpu"] for o in outs) * 1000, 2),
            "cpu_ms_p90": _p90(o["cpu"] for o in outs),
        }
        if show in (kind, "all"):
            print(f"{kind}:")
            for sql in outs[-1]["statements"]:
                print("   ", " ".join(sql.split())[:400])
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kinds", default="sqlite,postgresql")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--sql", help="print the statements of this turn kind")
    args = parser.parse_args()
    results = {}
    for kind in args.kinds.split(","):
        with tempfile.TemporaryDirectory() as tmp:
            if kind == "sqlite":
                url = f"sqlite:///{Path(tmp) / 'turns.sqlite'}"
                results[kind] = measure(url, Path(tmp), args.rounds, args.sql)
                continue
            name = f"sincro_bench_turn_{int(time.time())}"
            _pg_admin(f'CREATE DATABASE "{name}"')
            try:
                results[kind] = measure(_pg_url(name), Path(tmp), args.rounds, args.sql)
            finally:
                _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    for kind, report in results.items():
        for turn, figures in report.items():
            print(json.dumps({"db": kind, "turn": turn, **figures}))


if __name__ == "__main__":
    main()
