"""Routing by first path segment (sincro.routeindex): the same route answers as with
Starlette's scan of every route."""

from __future__ import annotations

import re

import pytest
from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient
from starlette.routing import Match, Mount, Route

from sincro.app import create_app
from sincro.config import Settings
from sincro.routeindex import RouteIndex, install, literal_segment


def _probes(template: str) -> list[str]:
    """Paths a route template stands for: its parameters filled in, with and without a
    trailing slash, and the same with another first segment."""
    filled = re.sub(r"\{[^}]*\}", "x", template) or "/"
    paths = {filled, filled.rstrip("/") or "/", filled + "/", filled + "/more"}
    paths |= {"/other" + p for p in list(paths)}
    return sorted(paths)


@pytest.mark.one_database
def test_every_route_that_can_match_is_a_candidate_in_order(settings: Settings) -> None:
    app = create_app(settings)
    routes = app.router.routes
    index = RouteIndex(app.router)
    assert sum(literal_segment(r) is not None for r in routes) > 0.9 * len(routes)
    probes = {p for r in routes for p in _probes(getattr(r, "path", "/"))} | {"/", "//", ""}
    for path in sorted(probes):
        candidates = index.candidates(path)
        positions = [routes.index(r) for r in candidates]
        assert positions == sorted(positions), path  # the router's own order
        for method in ("GET", "POST"):
            scope = {"type": "http", "path": path, "method": method, "root_path": ""}
            matching = [r for r in routes if r.matches(scope)[0] is not Match.NONE]
            assert all(r in candidates for r in matching), (path, method)
    assert len(index.candidates("/health")) < len(routes) / 4  # the point of it


def _app() -> FastAPI:
    app = FastAPI()
    first = APIRouter()

    @first.get("/{anything}/status")
    def status(anything: str) -> dict[str, str]:
        return {"route": "anything", "id": anything}

    @first.get("/items/{item_id}")
    def item(item_id: str) -> dict[str, str]:
        return {"route": "item", "id": item_id}

    @first.get("/items/status")
    def special() -> dict[str, str]:  # never reached: the route above comes first
        return {"route": "special"}

    @first.get("/health")
    def health() -> dict[str, str]:
        return {"route": "health"}

    @first.post("/health/{part}")
    def health_part(part: str) -> dict[str, str]:
        return {"route": "health-part"}

    app.include_router(first)

    async def mounted(scope, receive, send):  # type: ignore[no-untyped-def]
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": scope["path"].encode()})

    app.router.routes.append(Mount("/mounted", app=mounted))
    install(app.router)
    return app


def test_answers_as_starlette_does() -> None:
    with TestClient(_app()) as client:
        assert client.get("/items/7").json() == {"route": "item", "id": "7"}
        # order wins across segments: a route anywhere, filed before, answers first
        assert client.get("/items/status").json() == {"route": "anything", "id": "items"}
        assert client.get("/health").json() == {"route": "health"}
        assert client.post("/health").status_code == 405  # known path, other method
        assert client.get("/health/x").status_code == 405
        assert client.post("/health/x").json() == {"route": "health-part"}
        redirect = client.get("/health/", follow_redirects=False)
        assert (redirect.status_code, redirect.headers["location"]) == (
            307,
            "http://testserver/health",
        )
        assert client.get("/nowhere").status_code == 404
        assert client.get("/mounted/a/b").text == "/mounted/a/b"


def test_routes_added_later_are_found() -> None:
    app = _app()
    with TestClient(app) as client:
        assert client.get("/late").status_code == 404

        @app.get("/late")
        def late() -> dict[str, str]:
            return {"route": "late"}

        assert client.get("/late").json() == {"route": "late"}
        app.router.routes[-1] = Route("/late", lambda request: None, methods=["PUT"])
        assert client.get("/late").status_code == 405


def test_refuses_a_router_with_middleware_of_its_own() -> None:
    from starlette.middleware import Middleware
    from starlette.middleware.gzip import GZipMiddleware
    from starlette.routing import Router

    with pytest.raises(ValueError, match="middleware"):
        install(Router(middleware=[Middleware(GZipMiddleware)]))
