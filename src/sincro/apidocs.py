"""The API's documentation pages and the site's front door, served from installed packages.

Swagger UI and ReDoc come from the ``fastapi-offline`` package's static files (Swagger UI 5,
which renders the OpenAPI 3.1 FastAPI emits), so ``/docs`` works on a machine with no
internet; ``GET /`` leads to the console, and the favicon is the console's.
"""

from __future__ import annotations

from pathlib import Path

import fastapi_offline
from fastapi import Depends, FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

from sincro.exposure import require_exposure

ASSETS = Path(fastapi_offline.__file__).parent / "static"
FAVICON = Path(__file__).parent / "console" / "static" / "favicon.svg"
ASSETS_PREFIX = "/docs/assets"
OPENAPI_URL = "/openapi.json"


def install_docs(app: FastAPI) -> None:
    """Mount ``/openapi.json``, ``/docs`` (Swagger UI), ``/redoc``, ``/favicon.ico`` and ``/``
    on ``app``; the app must be created with ``docs_url=None, redoc_url=None,
    openapi_url=None``. The first three are served to whom ``SINCRO_DOCS_ACCESS`` allows."""
    app.mount(ASSETS_PREFIX, StaticFiles(directory=ASSETS), name="docs_assets")
    title = f"{app.title} API"
    openapi_url = OPENAPI_URL

    async def allowed(request: Request) -> None:
        settings = request.app.state.sincro.settings
        await require_exposure(request, settings.docs_access, "the API documentation")

    @app.get(OPENAPI_URL, include_in_schema=False, dependencies=[Depends(allowed)])
    async def openapi() -> JSONResponse:
        return JSONResponse(app.openapi())

    @app.get("/docs", include_in_schema=False, dependencies=[Depends(allowed)])
    async def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=openapi_url,
            title=title,
            swagger_js_url=f"{ASSETS_PREFIX}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS_PREFIX}/swagger-ui.css",
            swagger_favicon_url="/favicon.ico",
        )

    @app.get("/redoc", include_in_schema=False, dependencies=[Depends(allowed)])
    async def redoc() -> HTMLResponse:
        return get_redoc_html(
            openapi_url=openapi_url,
            title=title,
            redoc_js_url=f"{ASSETS_PREFIX}/redoc.standalone.js",
            redoc_favicon_url="/favicon.ico",
            with_google_fonts=False,
        )

    @app.get("/favicon.ico", include_in_schema=False)
    async def favicon() -> FileResponse:
        return FileResponse(FAVICON, media_type="image/svg+xml")

    @app.get("/", include_in_schema=False)
    async def front_door() -> RedirectResponse:
        return RedirectResponse("/console", status_code=307)
