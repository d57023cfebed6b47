"""Time the demo bulk loader: ``python bench/demo_load.py --database-url URL``.

The database must be migrated and empty (``--migrate`` applies the migrations first). Prints
the total and per-stage seconds and the row counts. ``--customers 200000`` adds the demo's
customers with two years of invoices (``--cycle-months``: one invoice every so many months);
``--stores 10 --products 50 --customers 200000`` times the customers' stages nearly alone.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sincro.demo.loader import DemoAlreadyLoaded, load_demo
from sincro.migrate import upgrade


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--database-url", required=True, help="sqlite:///... or postgresql://...")
    parser.add_argument("--stores", type=int, default=1800)
    parser.add_argument("--dcs", type=int, default=10)
    parser.add_argument("--products", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--customers", type=int, default=0)
    parser.add_argument("--cycle-months", type=int, default=2)
    parser.add_argument("--migrate", action="store_true", help="apply migrations before loading")
    args = parser.parse_args(argv)

    if args.migrate:
        upgrade(args.database_url)
    try:
        summary = load_demo(
            args.database_url,
            stores=args.stores,
            dcs=args.dcs,
            products=args.products,
            seed=args.seed,
            customers=args.customers,
            cycle_months=args.cycle_months,
        )
    except DemoAlreadyLoaded as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"backend        {summary.backend}")
    print(f"seconds        {summary.seconds:.2f}")
    for stage, seconds in summary.stage_seconds.items():
        print(f"  {stage:<12} {seconds:.2f}")
    print(f"locations      {summary.locations:>10,} ({summary.stores} stores, {summary.dcs} DCs)")
    print(f"products       {summary.products:>10,}")
    print(f"stock_levels   {summary.stock_levels:>10,}")
    print(f"movements      {summary.movements:>10,}")
    print(f"units on hand  {summary.units_on_hand:>10,}")
    print(f"customers      {summary.customers:>10,}")
    print(f"receivables    {summary.receivables:>10,}")
    print(f"load average   {Path('/proc/loadavg').read_text().split()[:3]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
