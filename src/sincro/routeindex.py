"""Routing by first path segment: Starlette's router, without trying every route in turn.

Starlette's router matches a request against each route's regular expression in order, the
first full match winning (or else the first partial one: a known path asked with another
method, 405). With the application's few hundred routes that scan was most of the CPU of a
request the fast routes (:mod:`sincro.fastroutes`) do not answer: a ``POST /health`` (405)
tried every route, ~200 µs of its ~400 µs.

:func:`install` makes the router try only the routes that *can* match: a route whose template
starts with a literal segment (``/v1/...``, ``/health``, a mount at ``/console``) is anchored
there (its expression is ``^/v1/...``), so it can only match a path whose first segment is the
same; it is filed under that segment. Any other route (a parameter in the first segment, a
host route, a mount at the root) is tried for every path. A request tries, in the router's
own order, the routes filed under its path's first segment and those tried everywhere: every
route that could match is tried, in the same order, so the same route answers as before, with
the same partial-match (405) and trailing-slash redirect rules.

The index follows the route list: it is rebuilt when the list is replaced, grows or shrinks,
or its last route changes (how routes are added); a route swapped in the middle of the list
in place is not noticed (nothing does that once the app is built).
"""

from __future__ import annotations

from starlette._utils import get_route_path
from starlette.datastructures import URL
from starlette.responses import RedirectResponse
from starlette.routing import BaseRoute, Match, Mount, Route, Router, WebSocketRoute
from starlette.types import Receive, Scope, Send

ANCHORED = (Route, WebSocketRoute, Mount)  # their expressions are ^<path>...$


def first_segment(path: str) -> str | None:
    """The first segment of an absolute path (``""`` for ``/``), None when there is none."""
    if not path.startswith("/"):
        return None
    return path[1:].split("/", 1)[0]


def literal_segment(route: BaseRoute) -> str | None:
    """The literal first segment every path ``route`` matches starts with, or None when the
    route may match paths starting with any segment."""
    if not isinstance(route, ANCHORED):
        return None
    template: str = route.path
    segment = first_segment(template)
    if segment is None or "{" in segment or (isinstance(route, Mount) and not template):
        return None
    return segment


class RouteIndex:
    """``router``'s routes filed by first segment (see the module docstring)."""

    def __init__(self, router: Router) -> None:
        self.router = router
        self._key: tuple[int, int, int] | None = None
        self._by_segment: dict[str, list[BaseRoute]] = {}
        self._anywhere: list[BaseRoute] = []

    def candidates(self, path: str) -> list[BaseRoute]:
        """The routes that can match ``path``, in the router's order."""
        routes = self.router.routes
        key = (id(routes), len(routes), id(routes[-1]) if routes else 0)
        if key != self._key:
            self._build(routes)
            self._key = key
        segment = first_segment(path)
        if segment is None:
            return list(routes)
        return self._by_segment.get(segment, self._anywhere)

    def _build(self, routes: list[BaseRoute]) -> None:
        filed: dict[str, list[int]] = {}
        anywhere: list[int] = []
        for i, route in enumerate(routes):
            segment = literal_segment(route)
            if segment is None:
                anywhere.append(i)
            else:
                filed.setdefault(segment, []).append(i)
        self._by_segment = {
            segment: [routes[i] for i in sorted(positions + anywhere)]
            for segment, positions in filed.items()
        }
        self._anywhere = [routes[i] for i in anywhere]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Starlette's ``Router.app`` with the candidates of the path instead of every route."""
        router = self.router
        if "router" not in scope:
            scope["router"] = router
        if scope["type"] == "lifespan":
            await router.lifespan(scope, receive, send)
            return
        route_path = get_route_path(scope)
        partial: BaseRoute | None = None
        partial_scope: Scope = {}
        for route in self.candidates(route_path):
            match, child_scope = route.matches(scope)
            if match is Match.FULL:
                scope["route"] = route
                scope.update(child_scope)
                await route.handle(scope, receive, send)
                return
            if match is Match.PARTIAL and partial is None:
                partial, partial_scope = route, child_scope
        if partial is not None:  # e.g. a known path with another method: 405
            scope["route"] = partial
            scope.update(partial_scope)
            await partial.handle(scope, receive, send)
            return
        if scope["type"] == "http" and router.redirect_slashes and route_path != "/":
            redirect_scope = dict(scope)
            if route_path.endswith("/"):
                redirect_scope["path"] = redirect_scope["path"].rstrip("/")
            else:
                redirect_scope["path"] = redirect_scope["path"] + "/"
            for route in self.candidates(get_route_path(redirect_scope)):
                match, _ = route.matches(redirect_scope)
                if match is not Match.NONE:
                    response = RedirectResponse(url=str(URL(scope=redirect_scope)))
                    await response(scope, receive, send)
                    return
        await router.default(scope, receive, send)


def install(router: Router) -> RouteIndex:
    """Have ``router`` dispatch through a :class:`RouteIndex` of its routes (its own
    middleware, if any was given to the router, would be bypassed: the api gives none)."""
    if router.middleware_stack != router.app:
        raise ValueError("the router has middleware of its own: not indexed")
    index = RouteIndex(router)
    router.middleware_stack = index
    return index
