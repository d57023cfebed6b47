"""The fast path of ``POST /v1/assistant/conversations/{id}/messages`` (``assistant/fast.py``)
against the documented route (``SINCRO_ASSISTANT_FAST_MESSAGES=false``), over HTTP, on SQLite
and PostgreSQL.

The same requests — a conversation played through (stock, identity with CPF and birth date,
order status, a handoff and the silence after), another key's conversation, an admin key, a
store key, no key, a forged one, a closed conversation, unknown and malformed ids, every kind
of invalid body (empty, controls, too long for the deployment, extra fields, wrong types,
malformed, not UTF-8, NaN, duplicate fields, other content types, chunked, past the body cap),
a rate-limited key — are sent once with the fast path on and once with it off, each on a
freshly seeded database. Both runs must give the same statuses, bodies and headers, store the
same messages and conversations' states, and move the same latency metrics; the fast path must
have answered the valid ones and handed over the rest.
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
from tests.assistant import world
from tests.conftest import wipe
from tests.samples import sample

BODY_CAP = 4096
MAX_TEXT = 300
KEYS = {  # name: (role, locations, rate limit per minute)
    "shop": (Role.channel, (), None),
    "other": (Role.channel, (), None),
    "admin": (Role.admin, (), None),
    "store": (Role.store, ("LJ-NIT-C",), None),
    "tight": (Role.channel, (), 3),
}
HEADERS = ("content-type", "content-length", "retry-after", "connection")
ROUTE = "/v1/assistant/conversations/{conversation_id}/messages"
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
MOMENT = re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)?")


def _normal(value: str) -> str:
    """The world's reservations have random ids and are made now."""
    return MOMENT.sub("<time>", UUID.sub("<id>", value))


# (key name or a literal key, conversation: a name or a literal path segment, extra headers,
# JSON document, raw bytes, or a tuple of chunks sent without a Content-Length)
Request = tuple[str | None, str, dict[str, str], Any]
REQUESTS: list[Request] = [
    ("shop", "c1", {}, {"text": "oi"}),  # the key's first request: the documented route
    ("shop", "c1", {}, {"text": "tem galaxy a05 em niteroi?"}),
    ("shop", "c1", {}, {"text": "cade meu pedido?"}),
    ("shop", "c1", {}, {"text": world.CPF}),
    ("shop", "c1", {}, {"text": "12/03/1985"}),
    ("shop", "c1", {}, {"text": "qual a garantia do galaxy a05?"}),
    ("bearer:shop", "c1", {}, {"text": "quais planos controle vcs tem?"}),
    ("shop", "c1", {"Content-Type": "application/json; charset=utf-8"}, {"text": "oi"}),
    ("admin", "c1", {}, {"text": "tem iphone 15 em campinas?"}),  # an admin sees every one
    ("other", "c1", {}, {"text": "oi"}),  # another key's: 404
    ("store", "c1", {}, {"text": "oi"}),  # wrong role: 403
    (None, "c1", {}, {"text": "oi"}),  # no key: 401 before the body
    ("sk_forged_secret", "c1", {}, {"text": "oi"}),
    ("shop", "closed", {}, {"text": "oi"}),  # 409
    ("shop", "999999", {}, {"text": "oi"}),  # unknown: 404
    ("shop", "0", {}, {"text": "oi"}),
    ("shop", "007", {}, {"text": "oi"}),
    ("shop", "-1", {}, {"text": "oi"}),
    ("shop", "abc", {}, {"text": "oi"}),
    ("shop", "1e3", {}, {"text": "oi"}),
    ("shop", "\u0661", {}, {"text": "oi"}),  # an Arabic-Indic digit one
    ("shop", "2147483648", {}, {"text": "oi"}),
    ("shop", "c1", {}, {"text": ""}),
    ("shop", "c1", {}, {"text": "nul\u0000here"}),
    ("shop", "c1", {}, {"text": "bell\u0007"}),
    ("shop", "c1", {}, {"text": "x" * (MAX_TEXT + 1)}),  # the deployment's limit: 422 text
    ("shop", "c1", {}, {"text": "oi", "extra": 1}),
    ("shop", "c1", {}, {"text": 5}),
    ("shop", "c1", {}, {"text": None}),
    ("shop", "c1", {}, {}),
    ("shop", "c1", {}, []),
    ("shop", "c1", {}, "oi"),
    ("shop", "c1", {}, b'{"text": "oi",'),
    ("shop", "c1", {}, b"\xff\xfe{}"),
    ("shop", "c1", {}, b'{"text": NaN}'),
    ("shop", "c1", {}, b'{"text": "\\ud800"}'),
    ("shop", "c1", {}, b'{"text": "oi", "text": "tem galaxy a05?"}'),
    ("shop", "c1", {}, {"text": "y" * 5000}),  # past the body cap: 413
    ("shop", "c1", {"Content-Type": "text/plain"}, {"text": "oi"}),
    ("shop", "c1", {}, b""),
    ("shop", "c1", {}, (b'{"text": ', b'"tem galaxy a05 em niteroi?"}')),  # chunked
    ("shop", "c1", {}, {"text": "quero falar com um atendente"}),  # a handoff
    ("shop", "c1", {}, {"text": "alguem ai?"}),  # a person has it: empty reply
    ("tight", "c2", {}, {"text": "oi"}),
    ("tight", "c2", {}, {"text": "oi"}),
    ("tight", "c2", {}, {"text": "oi"}),
    ("tight", "c2", {}, {"text": "oi"}),  # the fifth of the minute (with the start): 429
    ("tight", "c2", {}, {"text": ""}),  # still limited: 429 before the body is looked at
]


def _seed(db: Database) -> dict[str, str]:
    """A fresh database: the assistant's test world, one key per kind (fixed names)."""
    wipe(db)
    world.seed(db)
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


METRICS = [
    (
        "sincro_http_request_duration_seconds_count",
        {"method": "POST", "route": ROUTE, "status": str(status)},
    )
    for status in (200, 401, 403, 404, 409, 413, 422, 429)
]


def _metrics() -> list[float]:
    return [sample(name, labels) for name, labels in METRICS]


def _fast_path(decision: str) -> float:
    return sample("sincro_assistant_fast_path_total", {"decision": decision})


def _rows(db: Database) -> dict[str, list[Any]]:
    queries = {
        "conversations": "SELECT id, channel, state, handoff_reason, customer_id"
        " FROM assistant_conversations ORDER BY id",
        "messages": "SELECT conversation_id, seq, sender, text, intent FROM assistant_messages"
        " ORDER BY conversation_id, seq",
    }
    with db.read() as session:
        return {
            name: [
                tuple(_normal(v) if isinstance(v, str) else v for v in row)
                for row in session.execute(text(sql))
            ]
            for name, sql in queries.items()
        }


def _run(db: Database, settings: Settings, fast: bool) -> dict[str, Any]:
    keys = _seed(db)
    app = create_app(
        settings.model_copy(
            update={
                "assistant_fast_messages": fast,
                "api_body_max_bytes": BODY_CAP,
                "assistant_max_text_chars": MAX_TEXT,
            }
        )
    )
    answers = []
    before = _metrics()
    with TestClient(app) as client:
        conversations: dict[str, str] = {}

        def start(name: str, key: str | None) -> str:
            """Started by ``key`` at first use (a tight key's bucket starts just then)."""
            if name not in conversations:
                started = client.post(
                    "/v1/assistant/conversations",
                    json={"channel": "app"},
                    headers=_headers(keys, key if name != "closed" else "shop", {}),
                )
                assert started.status_code == 201, started.text
                conversations[name] = str(started.json()["id"])
                if name == "closed":
                    with db.write() as s:
                        s.execute(
                            text("UPDATE assistant_conversations SET state = 'closed'"
                                 " WHERE id = :id"),
                            {"id": int(conversations[name])},
                        )  # fmt: skip
            return conversations[name]

        for who, conversation, extra, document in REQUESTS:
            content: Any = document
            if isinstance(document, tuple):
                content = iter(document)
            elif not isinstance(document, bytes):
                content = orjson.dumps(document)
            if conversation in ("c1", "c2", "closed"):
                conversation = start(conversation, who)
            path = f"/v1/assistant/conversations/{conversation}"
            response = client.post(
                f"{path}/messages", content=content, headers=_headers(keys, who, extra)
            )
            answers.append(
                (
                    response.status_code,
                    _normal(response.text),
                    compared_headers(response, HEADERS),
                )
            )
    moved = [after - was for after, was in zip(_metrics(), before, strict=True)]
    return {"answers": answers, "rows": _rows(db), "metrics": moved}


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def runs(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[bool, dict[str, Any]]]:
    """Both runs, once per database for the whole module (each seeds its own fresh data)."""
    yield from both_runs(
        request,
        tmp_path_factory,
        _run,
        _fast_path,
        assistant_service_hours_weekdays="00:00-24:00",
        assistant_service_hours_saturday="00:00-24:00",
        assistant_service_hours_sunday="00:00-24:00",
    )


def test_fast_path_answers_exactly_as_the_documented_route(
    runs: dict[bool, dict[str, Any]],
) -> None:
    slow, fast = runs[False], runs[True]
    for request, a, b in zip(REQUESTS, slow["answers"], fast["answers"], strict=True):
        assert a == b, request
    assert slow["rows"] == fast["rows"]
    assert slow["metrics"] == fast["metrics"]


def test_the_fast_path_answered_the_valid_requests(runs: dict[bool, dict[str, Any]]) -> None:
    fast = runs[True]
    statuses = [status for status, _, _ in fast["answers"]]
    assert statuses.count(200) >= 12 and {401, 403, 404, 409, 413, 422, 429} <= set(statuses)
    # every request was answered by it or handed over (a 401 never reaches it: no cached key;
    # the key's first request authenticates it through the documented route)
    assert fast["answered"] + fast["handed_over"] == len(REQUESTS)
    assert fast["answered"] >= 16
    assert any(reply for _, body, _ in fast["answers"] for reply in [orjson.loads(body)] if
               isinstance(reply, dict) and reply.get("reply") == "")  # fmt: skip
