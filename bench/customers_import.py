"""CSV import of customers at size: a 50,000-line pt-BR Excel file (consent column included)
imported into an empty database (inserts), then again (every line merges into a known
customer: updates), on SQLite and PostgreSQL.

    python -m bench.customers_import [--db sqlite|postgresql|both] [--lines 50000]
        [--batch 2000]
"""

from __future__ import annotations

import argparse
import json
import secrets
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.harness import _pg_admin, _pg_url, loadavg, log
from sincro.customers.importer import Importer
from sincro.db import Database
from sincro.migrate import upgrade
from sincro.text_pt import cpf_check_digits

UFS = ("SP", "RJ", "MG", "RS", "PE", "AM", "BA", "PR")


def make_file(lines: int) -> bytes:
    rows = [
        "Nome;CPF;E-mail;Telefone;Cidade;UF;Plano;Nascimento;Cliente desde;Consentimento marketing"
    ]
    for n in range(lines):
        base = f"{n + 1:09d}"
        doc = base + cpf_check_digits(base)
        bad = n % 97 == 0  # about 1% of lines refused (wrong check digits)
        document = doc[:-1] + str((int(doc[-1]) + 1) % 10) if bad else doc
        rows.append(
            f"Cliente {n};{document};cliente{n}@exemplo.com.br;11 9{n % 10000:04d}-{n % 7777:04d};"
            f"Cidade {n % 300};{UFS[n % len(UFS)]};Plano {n % 5};"
            f"{1 + n % 28:02d}/{1 + n % 12:02d}/19{50 + n % 50};"
            f"01/01/20{10 + n % 15};{'Sim' if n % 3 else 'Não'}"
        )
    return ("\ufeff" + "\r\n".join(rows) + "\r\n").encode("utf-8")


def run_one(kind: str, raw: bytes, batch: int) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="sincro-bench-customers-"))
    name = f"sincro_bench_{secrets.token_hex(4)}"
    if kind == "sqlite":
        url = f"sqlite:///{workdir / 'sincro.sqlite'}"
    else:
        _pg_admin(f'CREATE DATABASE "{name}"')
        url = _pg_url(name)
    db = Database(url)
    try:
        upgrade(url)
        results: dict[str, Any] = {"db": kind}
        for label in ("insert", "merge"):
            importer = Importer(db, batch_lines=batch, max_line_chars=4000)
            import_id = importer.start("bench.csv", dry_run=False, actor="bench")
            began, cpu = time.perf_counter(), time.process_time()
            outcome = importer.run(import_id, raw)
            seconds, cpu = time.perf_counter() - began, time.process_time() - cpu
            results[label] = {
                "lines": outcome.total_lines,
                "created": outcome.created,
                "updated": outcome.updated,
                "rejected": outcome.rejected,
                "seconds": round(seconds, 2),
                "cpu_seconds_importer": round(cpu, 2),  # in this process (SQLite included)
                "lines_per_second": round(outcome.total_lines / seconds),
            }
            log(f"{kind} {label}: {json.dumps(results[label])}")
        return results
    finally:
        db.dispose()
        if kind == "postgresql":
            _pg_admin(f'DROP DATABASE IF EXISTS "{name}"')
        shutil.rmtree(workdir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--lines", type=int, default=50_000)
    parser.add_argument("--batch", type=int, default=2000)
    args = parser.parse_args()
    raw = make_file(args.lines)
    log(f"file: {args.lines:,} lines, {len(raw) / 1e6:.1f} MB; load average {loadavg()}")
    kinds = ("sqlite", "postgresql") if args.db == "both" else (args.db,)
    print(json.dumps([run_one(kind, raw, args.batch) for kind in kinds], indent=2))


if __name__ == "__main__":
    main()
