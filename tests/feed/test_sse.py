"""Server-Sent Events over a real uvicorn server: live events, filters, resume."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import orjson
import pytest

from sincro.access.models import Role
from sincro.app import create_app
from sincro.config import Settings
from sincro.db import Database
from tests.factories import make_key, make_location, make_product, receive
from tests.services import serving


@pytest.fixture
def server(db: Database, settings: Settings) -> Iterator[tuple[str, str, Database]]:
    with db.write() as s:
        make_location(s, code="LJ1")
        make_location(s, code="LJ2")
        make_product(s, sku="A-1")
        make_product(s, sku="B-1")
        key = make_key(s, Role.channel)
    with serving(create_app(settings)) as port:
        yield f"http://127.0.0.1:{port}", key, db


def read_events(
    url: str, key: str, count: int, headers: dict[str, str] | None = None, on_open=None
) -> list[dict]:  # type: ignore[no-untyped-def]
    events: list[dict] = []
    with httpx.stream(
        "GET", url, headers={"X-API-Key": key, **(headers or {})}, timeout=10
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if line.startswith(": connected") and on_open:
                on_open()
            if line.startswith("data: "):
                events.append(orjson.loads(line[6:]))
                if len(events) == count:
                    break
    return events


def test_live_filtered_then_resumed(server: tuple[str, str, Database]) -> None:
    base, key, db = server

    def make_changes() -> None:
        with db.write() as s:
            receive(s, "A-1", "LJ1", 1)
        with db.write() as s:
            receive(s, "B-1", "LJ1", 2)
        with db.write() as s:
            receive(s, "A-1", "LJ2", 3)

    live = read_events(f"{base}/v1/events/stream?sku=A-1", key, 2, on_open=make_changes)
    assert [(e["location"], e["on_hand"]) for e in live] == [("LJ1", 1), ("LJ2", 3)]
    assert live[0]["seq"] < live[1]["seq"]

    with db.write() as s:  # happens while the client is away
        receive(s, "A-1", "LJ1", 4)
    resumed = read_events(
        f"{base}/v1/events/stream?sku=A-1", key, 1, headers={"Last-Event-ID": str(live[-1]["seq"])}
    )
    assert [(e["location"], e["on_hand"]) for e in resumed] == [("LJ1", 5)]


def test_bad_last_event_id_is_422(server: tuple[str, str, Database]) -> None:
    base, key, _ = server
    r = httpx.get(f"{base}/v1/events/stream", headers={"X-API-Key": key, "Last-Event-ID": "x"})
    assert r.status_code == 422 and r.json()["error"]["field"] == "Last-Event-ID"
