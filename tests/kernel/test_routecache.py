"""Routes built once per process (sincro.routecache): an application built from the cache
answers and documents exactly as one built the plain way."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient
from starlette.routing import BaseRoute

from sincro import routecache
from sincro.app import create_app
from sincro.config import Settings

pytestmark = pytest.mark.one_database  # route objects do not depend on the database


def _shape(routes: list[BaseRoute]) -> list[tuple[Any, ...]]:
    return [
        (
            type(route).__name__,
            getattr(route, "path", None),
            sorted(getattr(route, "methods", None) or ()),
            getattr(route, "name", None),
        )
        for route in routes
    ]


def _answers(client: TestClient) -> list[tuple[int, str]]:
    calls = [
        client.get("/health"),
        client.get("/v1/availability/X"),  # no key: 401
        client.post("/v1/reservations", content=b"{not json", headers={"X-API-Key": "sk_a_b"}),
        client.get("/console/sign-in"),
        client.get("/openapi.json"),
    ]
    return [(r.status_code, r.headers.get("content-type", "")) for r in calls]


def test_an_app_from_the_cache_is_the_plain_one(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    routecache.forget()
    with monkeypatch.context() as plain:
        plain.setattr(routecache, "_shareable", lambda router: False)
        with TestClient(create_app(settings)) as client:
            reference = (
                _shape(client.app.routes),  # type: ignore[attr-defined]
                client.get("/openapi.json").json(),
                _answers(client),
            )
    assert not routecache._BUILT

    apps: list[FastAPI] = []
    for _ in range(2):  # the first fills the cache, the second is served from it
        app = create_app(settings)
        apps.append(app)
        with TestClient(app) as client:
            built = (_shape(app.routes), client.get("/openapi.json").json(), _answers(client))
        assert built == reference
    first, second = (app.routes for app in apps)
    shared = [a for a, b in zip(first, second, strict=True) if a is b]
    assert len(shared) > 200, "the second application built its routes again"


def test_a_router_with_a_lifespan_of_its_own_is_included_the_plain_way() -> None:
    started: list[str] = []
    router = APIRouter(on_startup=[lambda: started.append("router")])

    @router.get("/ping")
    def ping() -> dict[str, str]:
        return {"pong": "yes"}

    plain = FastAPI()
    plain.include_router(router)
    with TestClient(plain):
        pass
    runs_per_app = len(started)
    assert runs_per_app > 0
    for apps in (1, 2):
        app = FastAPI()
        routecache.include(app, router)
        with TestClient(app) as client:
            assert client.get("/ping").json() == {"pong": "yes"}
        assert len(started) == runs_per_app * (apps + 1)
    assert id(router) not in routecache._BUILT
