"""The two yardsticks a saturation run is read against, served on the same machine in the same
run as Sincro's own figures (issue #12 asks for both):

- **The bare ASGI floor** (:data:`bare_app`): an ASGI callable that answers every request with
  a fixed 15-byte JSON body, served by uvicorn with the worker count, event loop and HTTP
  parser ``sincro api`` uses. It is what this server and load generator allow with no
  application at all; ``GET /health`` through Sincro's middleware stack (the other floor)
  shows what the stack itself costs.
- **The reference design rebuilt small** (:func:`reference_app`): the shape of the system
  Sincro replaces — a Flask application whose availability endpoint aggregates the SKU's
  stock levels with SQL on every request (no cache, no snapshot), served by gunicorn's sync
  workers (``2 × cores + 1``, gunicorn's documented starting point) on the same database as
  the run. It answers the same question as Sincro's online summary (``online_available``:
  the sellable units at active locations that ship online; ``locations_with_stock``).

Both run as subprocesses shaped like :class:`bench.harness.ApiServer` (``base_url``,
``pids()``, ``start``/``stop``), so the same wrk script and CPU meter measure them.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from bench.harness import HOST, ApiServer

REPO = Path(__file__).resolve().parent.parent
_BARE_BODY = b'{"status":"ok"}'
_BARE_HEADERS = [(b"content-type", b"application/json"), (b"content-length", b"15")]

# The reference design's query: one aggregation over the SKU's 1,810 stock levels per request.
# (MAX(0, x) is SQLite's spelling of GREATEST(0, x).)
_AVAILABLE = (
    "s.on_hand - s.reserved - s.blocked_quality - s.blocked_stock - s.blocked_returns"
    " - s.safety_stock"
)
_SUMMARY = """
SELECT p.sku, p.name,
       COALESCE(SUM(CASE WHEN l.active AND l.ships_online THEN {positive} ELSE 0 END), 0),
       COALESCE(SUM(CASE WHEN l.active AND {available} > 0 THEN 1 ELSE 0 END), 0)
  FROM products p
  LEFT JOIN stock_levels s ON s.product_id = p.id
  LEFT JOIN locations l ON l.id = s.location_id
 WHERE p.sku = :sku
 GROUP BY p.sku, p.name
"""


async def bare_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The bare ASGI floor: any HTTP request gets 200 and the same small JSON body."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    await send({"type": "http.response.start", "status": 200, "headers": _BARE_HEADERS})
    await send({"type": "http.response.body", "body": _BARE_BODY})


def summary_sql(dialect: str) -> str:
    """The reference design's per-request aggregation, in ``dialect`` ("sqlite" or
    "postgresql")."""
    positive = f"MAX(0, {_AVAILABLE})" if dialect == "sqlite" else f"GREATEST(0, {_AVAILABLE})"
    return _SUMMARY.format(positive=positive, available=_AVAILABLE)


def reference_app(database_url: str | None = None) -> Any:
    """The reference design: Flask, one SQL aggregation per request (``database_url``, else
    ``SINCRO_DATABASE_URL``)."""
    from flask import Flask, jsonify
    from sqlalchemy import create_engine, text

    from sincro.db import postgres_url

    url = database_url or os.environ["SINCRO_DATABASE_URL"]
    sqlite = url.startswith("sqlite")
    engine = create_engine(url if sqlite else postgres_url(url))
    query = text(summary_sql("sqlite" if sqlite else "postgresql"))
    app = Flask("reference_design")
    app.extensions["engine"] = engine  # disposed by whoever ends the app (tests)

    @app.get("/ready")
    def ready() -> Any:
        return jsonify(status="ready")

    @app.get("/v1/availability/<sku>")
    def availability(sku: str) -> Any:
        with engine.connect() as conn:
            row = conn.execute(query, {"sku": sku}).first()
        if row is None:
            return jsonify(error="unknown sku"), 404
        return jsonify(
            sku=row[0], name=row[1], online_available=int(row[2]), locations_with_stock=int(row[3])
        )

    return app


def api_loop() -> str:
    """The event loop ``sincro api`` serves on with this environment (``SINCRO_API_LOOP``)."""
    from sincro.config import Settings

    return os.environ.get("SINCRO_API_LOOP") or str(Settings.model_fields["api_loop"].default)


class BareServer(ApiServer):
    """:data:`bare_app` on uvicorn, with ``sincro api``'s workers, loop and parser."""

    def __init__(self, database_url: str, workers: int) -> None:
        super().__init__(database_url, workers=workers)
        self.command = f"uvicorn bench.baselines:bare_app --workers {workers} (bare ASGI)"

    def argv(self) -> list[str]:
        return [sys.executable, "-m", "uvicorn", "bench.baselines:bare_app",
                "--app-dir", str(REPO), "--host", HOST, "--port", str(self.port),
                "--workers", str(self.workers), "--no-access-log", "--backlog", "4096",
                "--timeout-keep-alive", "30", "--loop", api_loop()]  # fmt: skip


class ReferenceServer(ApiServer):
    """:func:`reference_app` on gunicorn's sync workers (``2 × cores + 1``)."""

    def __init__(self, database_url: str, workers: int | None = None) -> None:
        super().__init__(database_url, workers=workers or 2 * (os.cpu_count() or 1) + 1)
        self.command = (
            f"gunicorn --workers {self.workers} 'bench.baselines:reference_app()'"
            " (Flask, SQL aggregation per request)"
        )

    def argv(self) -> list[str]:
        return [sys.executable, "-m", "gunicorn", "--pythonpath", str(REPO),
                "--bind", f"{HOST}:{self.port}", "--workers", str(self.workers),
                "--backlog", "4096", "--log-level", "warning",
                "bench.baselines:reference_app()"]  # fmt: skip
