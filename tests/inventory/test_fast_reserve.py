"""The fast path of ``POST /v1/reservations`` (``inventory/fast.py``) against the documented
route (``SINCRO_INVENTORY_FAST_RESERVE=false``), over HTTP, on SQLite and PostgreSQL.

The same varied requests — valid ones, every kind of invalid field, unknown SKU and location,
short stock, idempotent replays and a key reused with another body, a store key, missing and
forged keys, oversized, malformed and NUL-carrying bodies, a rate-limited key — are sent once
with the fast path on and once with it off, on a freshly seeded database. Both runs must give
the same statuses, bodies and headers, leave the same rows (levels, ledger, reservations,
lines, outbox events, idempotency records) and move the same metrics; reservation ids and
times aside (ids are random, times are now).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from sincro.access import service as access
from sincro.access.models import Role
from sincro.app import create_app
from sincro.config import Settings
from sincro.db import Database
from tests.answers import both_runs, compared_headers
from tests.conftest import wipe
from tests.factories import make_location, make_product, receive
from tests.samples import sample

BODY_CAP = 2048
KEYS = {  # name: (role, locations, rate limit per minute)
    "shop": (Role.channel, (), None),
    "admin": (Role.admin, (), None),
    "store": (Role.store, ("LJ-A",), None),
    "tight": (Role.channel, (), 3),
}
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
MOMENT = re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)?")
HEADERS = ("content-type", "idempotent-replayed", "retry-after", "connection")


def line(sku: str = "P-1", qty: Any = 1, location: Any = "LJ-A", **extra: Any) -> dict[str, Any]:
    out = {"sku": sku, "qty": qty, **extra}
    if location is not None:
        out["location"] = location
    return out


def one(**line_fields: Any) -> dict[str, Any]:
    return {"lines": [line(**line_fields)]}


# (key name or a literal header value, extra headers, JSON document, raw bytes or a tuple of
# chunks sent without a Content-Length)
Request = tuple[str | None, dict[str, str], Any]
REQUESTS: list[Request] = [
    ("shop", {}, one()),  # the key's first request: authenticated by the documented route
    ("shop", {}, one()),
    ("shop", {}, {**one(qty=2), "ttl_seconds": 60, "order_reference": "A-1", "customer_id": 5}),
    ("shop", {}, {**one(), "ship_to": None, "order_reference": None, "customer_id": None}),
    ("admin", {}, one()),
    ("admin", {}, one(location="LJ-B")),
    ("shop", {}, one(qty=0)),
    ("shop", {}, one(qty=100_001)),
    ("shop", {}, one(qty="1")),
    ("shop", {}, one(qty=True)),
    ("shop", {}, one(qty=1.0)),
    ("shop", {}, b'{"lines": [{"sku": "P-1", "qty": 18446744073709551616, "location": "LJ-A"}]}'),
    ("shop", {}, one(sku="bad sku")),
    ("shop", {}, one(location="no way")),
    ("shop", {}, one(color="red")),
    ("shop", {}, {**one(), "gift": True}),
    ("shop", {}, {**one(), "ttl_seconds": 0}),
    ("shop", {}, {**one(), "ttl_seconds": 10**9}),
    ("shop", {}, {**one(), "ttl_seconds": 100_000}),  # over the deployment's bound (422)
    ("shop", {}, {**one(), "customer_id": 0}),
    ("shop", {}, {**one(), "customer_id": "7"}),
    ("shop", {}, {**one(), "order_reference": "x" * 81}),
    ("shop", {}, {**one(), "order_reference": "nul\u0000here"}),
    ("shop", {}, one(sku="P-\u0000")),
    ("shop", {}, b'{"lines": [{"sku": "P-1", "qty": 1, "location": "LJ-A\x00"}]}'),
    ("shop", {}, {"lines": []}),
    ("shop", {}, {"lines": [line(), line(sku="P-2")]}),  # two lines: the general path
    ("shop", {}, {"lines": [line(location=None)]}),  # allocated: the general path
    ("shop", {}, {**one(), "ship_to": {"lat": -23.5, "lon": -46.6}}),
    ("shop", {}, {**one(), "ship_to": {"lat": 123, "lon": 0}}),
    ("shop", {}, []),
    ("shop", {}, "lines"),
    ("shop", {}, one(sku="NOPE-1")),  # unknown SKU
    ("shop", {}, one(location="ZZ-9")),  # unknown location
    ("shop", {}, one(sku="P-2", qty=5)),  # insufficient stock
    ("shop", {}, one(sku="P-1", qty=500)),
    ("shop", {"Idempotency-Key": "k-1"}, one(sku="P-2")),
    ("shop", {"Idempotency-Key": "k-1"}, one(sku="P-2")),  # replayed
    ("shop", {"Idempotency-Key": "k-1"}, one(sku="P-2", qty=1, location="LJ-B")),  # reused
    ("shop", {"Idempotency-Key": "k-2"}, one(sku="P-2", qty=5)),  # short: 409, not recorded
    ("shop", {"Idempotency-Key": "k-2"}, one(sku="P-2", qty=5)),
    ("shop", {"Idempotency-Key": "k" * 201}, one()),
    ("shop", {"Idempotency-Key": ""}, one()),
    ("admin", {"Idempotency-Key": "k-1"}, one(sku="P-1")),  # another key's scope
    ("store", {}, one()),  # wrong role for reservations: 403
    ("store", {}, one()),
    (None, {}, one()),  # no key
    ("sk_forged_secret", {}, one()),
    ("not-a-key", {}, one()),
    ("shop", {}, b'{"lines": [{"sku": "P-1",'),  # malformed
    ("shop", {}, b'{"lines":\n [{"sku": "P-1", "qty": 1, "location": "LJ-A"}], }'),
    ("shop", {}, b"\xff\xfe{}"),  # not UTF-8
    ("shop", {}, b'{"lines": [{"sku": "P-1", "qty": NaN, "location": "LJ-A"}]}'),
    ("shop", {}, b'{"lines": [{"sku": "\\ud800", "qty": 1, "location": "LJ-A"}]}'),
    ("shop", {}, b'{"lines": [{"sku": "P-1", "qty": 1, "qty": 2, "location": "LJ-A"}]}'),
    ("shop", {}, {**one(), "order_reference": "y" * 3000}),  # over the body cap: 413
    ("shop", {"Content-Type": "text/plain"}, one()),
    ("shop", {"Content-Type": "application/json; charset=utf-8"}, one()),
    ("shop", {"Content-Type": "application/merge-patch+json"}, one()),
    ("shop", {}, b""),
    ("shop", {}, (b'{"lines": [{"sku": "P-1", ', b'"qty": 1, "location": "LJ-A"}]}')),  # chunked
    ("bearer:shop", {}, one(sku="P-1")),
    ("tight", {}, one()),
    ("tight", {}, one()),
    ("tight", {}, one()),
    ("tight", {}, one()),  # fourth in a minute: 429
    ("tight", {}, one(qty=0)),  # still limited: 429 before the body is looked at
]


def _seed(db: Database) -> dict[str, str]:
    """A fresh database: two stores, two SKUs with stock, one key per kind (fixed names)."""
    wipe(db)
    with db.write() as s:
        make_location(s, code="LJ-A", latitude=-23.5, longitude=-46.6)
        make_location(s, code="LJ-B", latitude=-23.6, longitude=-46.7)
        make_product(s, sku="P-1")
        make_product(s, sku="P-2")
    with db.write() as s:
        receive(s, "P-1", "LJ-A", 30)
        receive(s, "P-1", "LJ-B", 3)
        receive(s, "P-2", "LJ-A", 3)
    with db.write() as s:
        return {
            name: access.create_key(s, name, role, list(codes), limit)[1]
            for name, (role, codes, limit) in KEYS.items()
        }


def _headers(keys: dict[str, str], who: str | None, extra: dict[str, str]) -> dict[str, str]:
    headers = {"Content-Type": "application/json"}
    if who is not None and who.startswith("bearer:"):
        headers["Authorization"] = f"Bearer {keys[who.removeprefix('bearer:')]}"
    elif who is not None:
        headers["X-API-Key"] = keys.get(who, who)
    return {**headers, **extra}


class Normalizer:
    """Reservation ids become their order of first appearance, times a placeholder."""

    def __init__(self) -> None:
        self.ids: dict[str, str] = {}

    def __call__(self, value: str) -> str:
        value = UUID.sub(lambda m: self.ids.setdefault(m.group(), f"<id{len(self.ids)}>"), value)
        return MOMENT.sub("<time>", value)


METRICS = [
    ("sincro_reservations_total", {"outcome": outcome})
    for outcome in (
        "reserved",
        "insufficient_stock",
        "not_found",
        "idempotency_key_reused",
        "invalid_input",
    )
] + [
    (
        "sincro_http_request_duration_seconds_count",
        {"method": "POST", "route": "/v1/reservations", "status": str(status)},
    )
    for status in (201, 401, 403, 404, 409, 413, 422, 429)
]


def _metrics() -> list[float]:
    return [sample(name, labels) for name, labels in METRICS]


def _fast_path(decision: str) -> float:
    return sample("sincro_reservation_fast_path_total", {"decision": decision})


def _rows(db: Database, normal: Normalizer) -> dict[str, list[Any]]:
    queries = {
        "levels": "SELECT p.sku, l.code, s.on_hand, s.reserved, s.version FROM stock_levels s"
        " JOIN products p ON p.id = s.product_id JOIN locations l ON l.id = s.location_id"
        " ORDER BY p.sku, l.code",
        "ledger": "SELECT p.sku, l.code, m.bucket, m.quantity, m.reason, m.source,"
        " m.idempotency_key, m.reference FROM movements m JOIN products p ON p.id = m.product_id"
        " JOIN locations l ON l.id = m.location_id ORDER BY m.id",
        "reservations": "SELECT r.public_id, r.status, r.channel, k.name, r.order_reference,"
        " r.customer_id, r.expires_at, r.created_at FROM reservations r"
        " LEFT JOIN api_keys k ON k.id = r.owner_key_id ORDER BY r.id",
        "lines": "SELECT r.public_id, p.sku, l.code, rl.quantity, rl.active"
        " FROM reservation_lines rl JOIN reservations r ON r.id = rl.reservation_id"
        " JOIN products p ON p.id = rl.product_id JOIN locations l ON l.id = rl.location_id"
        " ORDER BY rl.id",
        "events": "SELECT topic, sku, location, available, on_hand, reserved, version, cause,"
        " reference FROM events ORDER BY seq",
        "idempotency": "SELECT k.name, i.key, i.request_hash, i.status_code, i.response"
        " FROM idempotency_records i JOIN api_keys k"
        " ON i.scope = 'reservations:' || CAST(k.id AS VARCHAR(20)) ORDER BY i.id",
    }

    def cell(value: Any) -> Any:
        if hasattr(value, "isoformat"):
            return "<time>"
        if isinstance(value, (dict, list)):  # JSON on PostgreSQL, text on SQLite
            value = orjson.dumps(value).decode()
        return normal(value) if isinstance(value, str) else value

    with db.read() as session:
        return {
            name: [tuple(cell(v) for v in row) for row in session.execute(text(sql))]
            for name, sql in queries.items()
        }


def _run(db: Database, settings: Settings, fast: bool) -> dict[str, Any]:
    keys = _seed(db)
    app = create_app(
        settings.model_copy(
            update={
                "inventory_fast_reserve": fast,
                "api_body_max_bytes": BODY_CAP,
                "reservation_max_ttl_seconds": 86_400,
            }
        )
    )
    normal = Normalizer()
    answers = []
    before = _metrics()
    with TestClient(app) as client:
        for who, extra, document in REQUESTS:
            content: Any = document
            if isinstance(document, tuple):
                content = iter(document)
            elif not isinstance(document, bytes):
                content = orjson.dumps(document)
            response = client.post(
                "/v1/reservations", content=content, headers=_headers(keys, who, extra)
            )
            assert response.headers["content-length"] == str(len(response.content))
            answers.append(
                (
                    response.status_code,
                    normal(response.text),
                    compared_headers(response, HEADERS),
                )
            )
    moved = [after - was for after, was in zip(_metrics(), before, strict=True)]
    return {"answers": answers, "rows": _rows(db, normal), "metrics": moved}


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def runs(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[bool, dict[str, Any]]]:
    """Both runs, once per database for the whole module: the tests only read them (each
    run seeds its own fresh database, and later tests' ``db`` empties it again)."""
    yield from both_runs(request, tmp_path_factory, _run, _fast_path, availability_warm_skus=0)


def test_fast_path_answers_exactly_as_the_documented_route(
    runs: dict[bool, dict[str, Any]],
) -> None:
    slow, fast = runs[False], runs[True]
    for i, (request, a, b) in enumerate(
        zip(REQUESTS, slow["answers"], fast["answers"], strict=True)
    ):
        assert a == b, f"request {i} {request!r}"
    assert fast["rows"] == slow["rows"]
    assert fast["metrics"] == slow["metrics"]
    statuses = {status for status, _, _ in slow["answers"]}
    assert {201, 401, 403, 404, 409, 413, 422, 429} <= statuses  # the run covers every answer
    assert slow["rows"]["idempotency"] and slow["rows"]["reservations"]


def test_http_requests_take_the_fast_path(runs: dict[bool, dict[str, Any]]) -> None:
    """The valid lean requests of known keys (and the 403/422-ttl/429 answers after the
    key's first request) are answered by the fast path; the rest are handed over."""
    fast = runs[True]
    assert fast["answered"] >= 20
    assert fast["handed_over"] >= 30
    assert fast["answered"] + fast["handed_over"] == len(REQUESTS)
