"""Include a router's routes in an app, building FastAPI's route objects once per process.

``FastAPI.include_router`` builds a new :class:`fastapi.routing.APIRoute` for every route of
the included router: its dependency tree, parameter and response models (a pydantic
``TypeAdapter`` each). For Sincro's ~220 routes that is 0.3–0.8 s of CPU per application.
``sincro api`` builds one application per process, but the test suite builds one per test
(over a thousand), so that work was the largest part of the suite's set-up time.

The route objects hold nothing of the application they are served by: the request's
application (``request.app``) is looked up at request time. So the routes built for the
first application of a process are shared by the next ones. What differs from a plain
``include_router``:

- the routes are built on a detached router, so their ``dependency_overrides_provider`` is
  ``None``: Sincro does not use ``app.dependency_overrides``;
- a router with startup or shutdown handlers or a lifespan of its own is included the plain
  way, since those must be merged into each application's lifespan.

The test ``tests/kernel/test_routecache.py`` checks that an application built from the cache
answers and documents (OpenAPI) exactly as one built the plain way.
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI
from starlette.routing import BaseRoute

_BUILT: dict[int, tuple[APIRouter, list[BaseRoute]]] = {}
_DEFAULT_LIFESPAN = type(APIRouter().lifespan_context)


def include(app: FastAPI, router: APIRouter) -> None:
    """``app.include_router(router)``, reusing the routes built for an earlier app."""
    if not _shareable(router):
        app.include_router(router)
        return
    built = _BUILT.get(id(router))
    if built is None or built[0] is not router:
        detached = APIRouter()
        detached.include_router(router)
        built = (router, list(detached.routes))
        _BUILT[id(router)] = built
    app.router.routes.extend(built[1])


def _shareable(router: APIRouter) -> bool:
    return (
        not router.on_startup
        and not router.on_shutdown
        and type(router.lifespan_context) is _DEFAULT_LIFESPAN
    )


def forget() -> None:
    """Drop the built routes (a test builds the plain way to compare)."""
    _BUILT.clear()
