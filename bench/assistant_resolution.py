"""Share of the 200 scripted pt-BR conversations the assistant resolves without a person
(issue #11, section 6; target at least 70 %).

    PYTHONPATH=src python bench/assistant_resolution.py [--stores 300] [--failures]

Builds the demo-like data in a fresh SQLite file (the demo operator's stores, catalog, plans,
promotions, customers and invoices; the simulated datasheets; an order for the scripted
customer), runs every conversation of ``src/sincro/assistant/data/conversations.tsv`` through
the dialogue (one transaction per turn, as the API does), and reports the resolution share,
the handoff reasons, the agreement with what each script expects, and the time per turn."""

from __future__ import annotations

import argparse
import collections
import tempfile
import time
from pathlib import Path

from sincro.assistant import scripted
from sincro.assistant.classifier import classifier
from sincro.config import Settings
from sincro.db import Database
from sincro.migrate import upgrade


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stores", type=int, default=300)
    parser.add_argument("--products", type=int, default=300)
    parser.add_argument("--customers", type=int, default=300)
    parser.add_argument("--failures", action="store_true", help="print the misjudged scripts")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'assistant.sqlite'}"
        upgrade(url)
        db = Database(url)
        started = time.perf_counter()
        values = scripted.demo_world(
            db, stores=args.stores, products=args.products, customers=args.customers
        )
        print(f"demo-like data loaded in {time.perf_counter() - started:.1f} s")
        classifier()
        settings = Settings(database_url=url, var_dir=Path(tmp), log_json=False)
        scripts = scripted.load()
        started = time.perf_counter()
        outcomes = scripted.run_all(db, settings, scripts, values)
        seconds = time.perf_counter() - started
        db.dispose()
    turns = sum(len(o.script.turns) for o in outcomes)
    resolved = sum(o.resolved for o in outcomes)
    print(f"conversations: {len(outcomes)}, turns: {turns}, {seconds / turns * 1000:.1f} ms/turn")
    print(f"resolved without a person: {resolved}/{len(outcomes)} = {resolved / len(outcomes):.1%}")
    reasons = collections.Counter(o.handoff_reason for o in outcomes if o.state != "bot")
    print("handed off:", dict(reasons.most_common()))
    for expect in ("bot", "person"):
        group = [o for o in outcomes if o.script.expect == expect]
        right = sum(o.as_expected for o in group)
        print(f"scripts expecting {expect}: {len(group)}, judged as expected: {right}")
    if args.failures:
        for o in outcomes:
            if not o.as_expected:
                print(f"\nline {o.script.line} expect={o.script.expect} state={o.state} "
                      f"kind={o.last_kind} reason={o.handoff_reason}")  # fmt: skip
                for turn, reply in zip(o.script.turns, o.replies, strict=True):
                    print(f"  > {turn}\n    {reply[:160]!r}")


if __name__ == "__main__":
    main()
