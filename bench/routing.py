"""CPU of the api's request plumbing in-process, without a network or a load generator.

Drives the ASGI application directly (the same object ``sincro api`` serves) with requests that
touch no database: ``GET /health`` (the first route), ``POST /health`` (a 405: the router
looks at every route), a 404, and an unauthenticated call to a route at the end of the
routes (a redirect to sign in, after routing). Prints CPU microseconds per request (process time,
best of ``--rounds``), the FastAPI and Starlette versions, and how many routes the app has.

    python -m bench.routing [--requests 3000 --rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.harness import AsgiClient

CASES = [
    ("GET", "/health"),
    ("POST", "/health"),
    ("GET", "/v1/no-such-route"),
    ("GET", "/console/automacao/resultados"),
]


def _route_count(app: Any) -> int:
    count = 0
    stack = list(app.router.routes)
    while stack:
        route = stack.pop()
        nested = getattr(route, "original_router", None)  # FastAPI >= 0.137 keeps them nested
        if nested is not None:
            stack.extend(nested.routes)
        else:
            count += 1
    return count


async def _measure(requests: int, rounds: int) -> dict[str, Any]:
    import fastapi
    import starlette

    from sincro.app import create_app

    app = create_app()
    results: dict[str, Any] = {
        "fastapi": fastapi.__version__,
        "starlette": starlette.__version__,
        "routes": _route_count(app),
        "cpu_us_per_request": {},
    }
    client = AsgiClient(app)
    headers = {"content-type": "application/json"}
    async with app.router.lifespan_context(app):
        for method, path in CASES:
            status = 0
            for _ in range(200):  # warm-up: first-request builds and caches
                status, _ = await client.request(method, path, headers, b"{}")
            best = float("inf")
            for _ in range(rounds):
                start = time.process_time()
                for _ in range(requests):
                    await client.request(method, path, headers, b"{}")
                best = min(best, (time.process_time() - start) / requests)
            results["cpu_us_per_request"][f"{method} {path} ({status})"] = round(best * 1e6)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="sincro-bench-routing-") as tmp:
        os.environ["SINCRO_DATABASE_URL"] = f"sqlite:///{Path(tmp) / 'routing.db'}"
        os.environ["SINCRO_VAR_DIR"] = tmp
        from sincro.migrate import upgrade

        upgrade(os.environ["SINCRO_DATABASE_URL"])
        print(json.dumps(asyncio.run(_measure(args.requests, args.rounds)), indent=2))


if __name__ == "__main__":
    main()
