"""``Outcome.send`` (the fast routes' answer) sends exactly the ASGI messages of
``Outcome.response()`` (the documented routes' Starlette response): status, headers in
order, body, byte for byte; with ``encoded`` given, that body as it is."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest

from sincro.idempotency import Outcome

BODIES: list[Any] = [
    {"id": "3f0c", "status": "active", "lines": [{"sku": "P-1", "location": "LJ-A", "qty": 1}]},
    {"order_reference": "pão de queijo ☕", "customer_id": None, "n": 1.5},
    [],
    None,
]


def _messages(outcome: Outcome, starlette: bool) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def receive() -> dict[str, Any]:
        raise AssertionError("a response reads nothing")

    async def run() -> None:
        if starlette:
            await outcome.response()({"type": "http"}, receive, send)
        else:
            await outcome.send(send)

    asyncio.run(run())
    return sent


@pytest.mark.parametrize("status", [200, 201, 204, 304, 409, 422])
@pytest.mark.parametrize("replayed", [False, True])
@pytest.mark.parametrize("body", BODIES)
def test_send_is_the_response_byte_for_byte(status: int, replayed: bool, body: Any) -> None:
    outcome = Outcome(status, body, replayed)
    raw = _messages(outcome, starlette=False)
    assert raw == _messages(outcome, starlette=True)
    start, sent_body = raw
    assert all(type(n) is bytes and type(v) is bytes for n, v in start["headers"])
    assert type(sent_body["body"]) is bytes and sent_body["body"] == orjson.dumps(body)


def test_a_pre_encoded_body_is_sent_as_is_and_left_out_of_equality() -> None:
    body = {"id": "x", "qty": 1}
    encoded = orjson.dumps(body)
    given = Outcome(201, body, False, encoded=encoded)
    assert given == Outcome(201, body, False)
    for starlette in (False, True):
        assert _messages(given, starlette)[1]["body"] is encoded
