"""The fast routes of a reservation's commit and release (``inventory/fast_close.py``) against
the documented routes (``SINCRO_INVENTORY_FAST_RESERVE=false``), over HTTP, on SQLite and
PostgreSQL.

The same reservations are made, then the same varied commits and releases sent — the lean
case, the idempotent repeat, a commit after a release and the reverse, an admin key on
another key's reservation and a channel key on one it may not see, two lines, an expired
hold, unknown and malformed ids, a body, a trailing slash, a query string, a store key,
missing and forged keys, a bearer key, a rate-limited key — once with the fast routes on and
once off, each on a freshly seeded database. Both runs must give the same statuses, bodies and
headers, leave the same rows and move the same metrics (ids and times aside).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from sincro.access import service as access
from sincro.access.models import Role
from sincro.app import create_app
from sincro.config import Settings
from sincro.db import Database
from tests.answers import both_runs, compared_headers
from tests.inventory.test_fast_reserve import (
    HEADERS,
    Normalizer,
    _fast_path,
    _headers,
    _rows,
    _seed,
    line,
    one,
)
from tests.samples import sample

# the reservations made first: (key, body); their ids are referred to by position below
MADE: list[tuple[str, dict[str, Any]]] = [
    ("shop", one()),  # 0
    ("shop", one(qty=2)),  # 1
    ("shop", one(sku="P-2")),  # 2
    ("admin", one(location="LJ-B")),  # 3
    ("shop", {"lines": [line(), line(sku="P-2")]}),  # 4: two lines, the general path's
    ("shop", {**one(), "ttl_seconds": 1}),  # 5: expired by the time it is closed
    ("shop", one()),  # 6
    ("other", one()),  # 7
]
EXPIRED = 5
# (key, action, reservation: a position in MADE or a literal id, path suffix, extra headers,
# body)
Close = tuple[str | None, str, int | str, str, dict[str, str], bytes | None]
CLOSES: list[Close] = [
    ("shop", "commit", 0, "", {}, None),  # the lean statement
    ("shop", "commit", 0, "", {}, None),  # again: the idempotent 200 (general path)
    ("shop", "release", 0, "", {}, None),  # committed: 409
    ("shop", "release", 1, "", {}, None),
    ("shop", "release", 1, "", {}, None),
    ("shop", "commit", 1, "", {}, None),  # released: 409
    ("admin", "commit", 2, "", {}, None),  # an admin key closes any key's reservation
    ("shop", "commit", 3, "", {}, None),  # the admin's: 404 for this key
    ("admin", "release", 3, "", {}, None),
    ("shop", "commit", 4, "", {}, None),  # two lines
    ("shop", "commit", EXPIRED, "", {}, None),
    ("shop", "commit", "00000000-0000-4000-8000-000000000000", "", {}, None),  # unknown
    ("shop", "commit", "bad!id", "", {}, None),  # the route's pattern refuses it: 422
    ("shop", "release", "x" * 37, "", {}, None),
    ("store", "commit", 7, "", {}, None),  # wrong role: 403 (the documented route's)
    ("store", "release", 7, "", {}, None),  # the key cached now: the fast route's 403
    (None, "commit", 7, "", {}, None),  # no key
    ("sk_forged_secret", "commit", 7, "", {}, None),
    ("shop", "commit", 7, "", {}, b"{}"),  # a body: handed over (the route ignores it)
    ("shop", "commit", 6, "/", {}, None),  # not this route's path
    ("shop", "commit", 6, "?reason=test", {}, None),
    ("other", "commit", 7, "", {"Content-Length": "0"}, None),
    ("bearer:other", "release", 7, "", {}, None),
    ("tight", "commit", 6, "", {}, None),  # another key's: 404
    ("tight", "commit", 6, "", {}, None),
    ("tight", "release", 6, "", {}, None),
    ("tight", "release", 6, "", {}, None),  # fourth in a minute: 429
]
METRICS = [
    ("sincro_reservations_total", {"outcome": outcome})
    for outcome in ("reserved", "committed", "released")
] + [
    (
        "sincro_http_request_duration_seconds_count",
        {"method": "POST", "route": f"/v1/reservations/{{reservation_id}}/{action}", "status": s},
    )
    for action in ("commit", "release")
    for s in ("200", "401", "403", "404", "409", "422", "429")
]


def _metrics() -> list[float]:
    return [sample(name, labels) for name, labels in METRICS]


def _run(db: Database, settings: Settings, fast: bool) -> dict[str, Any]:
    keys = _seed(db)
    with db.write() as s:
        keys["other"] = access.create_key(s, "other", Role.channel, [], None)[1]
    app = create_app(settings.model_copy(update={"inventory_fast_reserve": fast}))
    normal = Normalizer()
    answers = []
    before = _metrics()
    with TestClient(app) as client:
        ids = []
        for who, body in MADE:
            made = client.post("/v1/reservations", json=body, headers=_headers(keys, who, {}))
            assert made.status_code == 201, made.text
            ids.append(made.json()["id"])
        time.sleep(1.1)  # the 1 s hold has expired
        for who, action, which, suffix, extra, body in CLOSES:
            rid = ids[which] if isinstance(which, int) else which
            headers = _headers(keys, who, extra)
            if body is None:
                headers.pop("Content-Type")
            response = client.post(
                f"/v1/reservations/{rid}/{action}{suffix}",
                content=body,
                headers=headers,
                follow_redirects=False,
            )
            answers.append(
                (
                    response.status_code,
                    normal(response.text),
                    {
                        name: normal(value) if isinstance(value, str) else value
                        for name, value in compared_headers(
                            response, (*HEADERS, "location")
                        ).items()
                    },
                )
            )
    moved = [after - was for after, was in zip(_metrics(), before, strict=True)]
    return {"answers": answers, "rows": _rows(db, normal), "metrics": moved}


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def runs(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[bool, dict[str, Any]]]:
    """Both runs, once per database for the whole module (each seeds its own database)."""
    yield from both_runs(request, tmp_path_factory, _run, _fast_path, availability_warm_skus=0)


def test_fast_close_answers_exactly_as_the_documented_routes(
    runs: dict[bool, dict[str, Any]],
) -> None:
    slow, fast = runs[False], runs[True]
    for i, (request, a, b) in enumerate(zip(CLOSES, slow["answers"], fast["answers"], strict=True)):
        assert a == b, f"close {i} {request!r}"
    assert fast["rows"] == slow["rows"]
    assert fast["metrics"] == slow["metrics"]
    statuses = [status for status, _, _ in slow["answers"]]
    assert {200, 401, 403, 404, 409, 422, 429} <= set(statuses)  # the run covers every answer
    assert statuses.count(200) >= 8
    body = orjson.loads(slow["answers"][0][1])
    assert body["status"] == "committed" and body["lines"] == [
        {"sku": "P-1", "location": "LJ-A", "qty": 1}
    ]


def test_http_closes_take_the_fast_routes(runs: dict[bool, dict[str, Any]]) -> None:
    """The lean shapes of known keys are answered by the fast routes (the reservations made
    first count too); the rest are handed over."""
    fast = runs[True]
    assert fast["answered"] >= 20
    assert fast["handed_over"] >= 8  # first requests of keys, bad ids, a body, no or forged keys
    # every reservation and close went one way or the other (the trailing slash matches no
    # fast route at all)
    assert fast["answered"] + fast["handed_over"] == len(MADE) + len(CLOSES) - 1
