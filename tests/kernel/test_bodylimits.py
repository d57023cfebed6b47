"""Request bodies: 401 before the body is read, per-route caps answered 413 in the error
shape (declared and streamed), on SQLite and PostgreSQL."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from sincro.access import service as access
from sincro.access.models import Role
from sincro.app import create_app
from sincro.config import Settings
from sincro.db import Database
from sincro.inventory.endpoints import MOVEMENTS_MAX_BODY_BYTES
from tests.services import serving

MB = 1024 * 1024


@pytest.fixture
def admin_key(db: Database) -> str:
    with db.write() as s:
        return access.create_key(s, "admin", Role.admin)[1]


@pytest.fixture
def client(settings: Settings, admin_key: str) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as client:
        yield client


@pytest.fixture
def server(settings: Settings, admin_key: str) -> Iterator[int]:
    """The api on a real socket, for what a TestClient cannot show (an unread body)."""
    with serving(create_app(settings)) as port:
        yield port


def _head_only(port: int, path: str, extra: str = "") -> bytes:
    """Send a POST announcing 47 MB but no body byte; the answer, if one comes in 5 s."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(
            f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Content-Length: {47 * MB}\r\n{extra}\r\n".encode()
        )
        try:
            return sock.recv(65536)
        except TimeoutError:
            return b""


def test_a_body_without_a_key_is_refused_before_it_is_read(server: int, admin_key: str) -> None:
    for extra in ("", "X-API-Key: sk_abc_not-a-key\r\n"):
        answer = _head_only(server, "/v1/movements", extra)
        assert answer.startswith(b"HTTP/1.1 401"), answer[:200]
        assert b'"code":"unauthorized"' in answer
    # a valid key with a declared size over the route's cap: 413, still unread
    answer = _head_only(server, "/v1/movements", f"X-API-Key: {admin_key}\r\n")
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b'"code":"payload_too_large"' in answer


def _padded(size: int) -> bytes:
    """A valid JSON batch of one movement, padded with whitespace to ``size`` bytes."""
    head = b'{"movements": [{"sku": "X", "location": "L", "qty": 1, "reason": "sale"}]'
    return head + b" " * (size - len(head) - 1) + b"}"


def test_caps_per_route_declared_and_streamed(client: TestClient, admin_key: str) -> None:
    headers = {"X-API-Key": admin_key, "Content-Type": "application/json"}
    over_default = _padded(int(1.5 * MB))
    refused = client.post("/v1/reservations", content=over_default, headers=headers)
    assert refused.status_code == 413
    assert refused.json()["error"]["code"] == "payload_too_large"
    # movements take batches: a larger cap, so the same body reaches the endpoint
    batch_headers = {**headers, "Idempotency-Key": "big-1"}
    taken = client.post("/v1/movements", content=over_default, headers=batch_headers)
    assert taken.status_code not in (413, 500), taken.text
    too_big = _padded(MOVEMENTS_MAX_BODY_BYTES + 1)
    assert client.post("/v1/movements", content=too_big, headers=batch_headers).status_code == 413

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it streams
        for _ in range(3):
            yield b" " * (MB // 2 + 1)

    streamed = client.post("/v1/reservations", content=chunks(), headers=headers)
    assert streamed.status_code == 413
    assert streamed.json()["error"]["code"] == "payload_too_large"
    small = client.post("/v1/reservations", json={"lines": []}, headers=headers)
    assert small.status_code == 422


def test_console_forms_are_capped(client: TestClient) -> None:
    page = client.get("/console/sign-in")
    assert page.status_code == 200
    response = client.post("/console/sign-in", data={"email": "a" * 100_000, "password": "x"})
    assert response.status_code == 413
