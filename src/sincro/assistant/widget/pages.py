"""The widget's files and a demo shop page, served by Sincro from the package (no CDN).

``/assistant/widget.js`` and ``/assistant/widget.css`` are what a shop's one script tag loads;
``/assistant/demo`` ("Loja exemplo") embeds the tag with the newest active site key allowed
for the origin the page is served from (``sincro demo`` makes one for the console's own)."""

from __future__ import annotations

import html
from pathlib import Path

from fastapi import APIRouter, Request, Response
from fastapi.responses import FileResponse, HTMLResponse
from starlette.concurrency import run_in_threadpool

from sincro.assistant.widget import sitekeys
from sincro.clients import client_scheme
from sincro.deps import StateDep
from sincro.errors import InvalidInput, NotFound

STATIC = Path(__file__).parent / "static"
FILES = {
    "widget.js": "application/javascript; charset=utf-8",
    "widget.css": "text/css; charset=utf-8",
    "demo.css": "text/css; charset=utf-8",
}
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)

router = APIRouter(include_in_schema=False)


def page_origin(request: Request) -> str | None:
    """The origin this request reached, as a browser on it would send ``Origin``."""
    host = request.headers.get("host", "")
    try:
        return sitekeys.canonical_origin(
            f"{client_scheme(request.scope)}://{host}", allow_http=True
        )
    except InvalidInput:
        return None


@router.get("/assistant/demo", name="assistant_widget_demo", response_class=HTMLResponse)
async def demo(request: Request, state: StateDep) -> HTMLResponse:
    origin = page_origin(request)

    def find() -> str | None:
        if origin is None:
            return None
        with state.db.read() as session:
            key = sitekeys.for_origin(session, origin)
            return key.public_key if key else None

    public_key = await run_in_threadpool(find)
    if public_key:
        tag = (
            f'<script src="/assistant/widget.js" data-site-key="{html.escape(public_key)}" '
            "async></script>"
        )
        body = (
            "<p>Esta é uma loja de exemplo. O botão <strong>Atendimento</strong>, no canto da "
            "tela, abre o assistente virtual: pergunte por um produto, uma loja perto de você "
            "ou peça para falar com uma pessoa.</p>"
            "<p>Para pôr o assistente no seu site, basta uma linha:</p>"
            f"<pre><code>{html.escape(tag)}</code></pre>"
        )
    else:
        tag = ""
        shown = html.escape(origin or "esta origem")
        body = (
            '<p class="missing">Nenhuma chave de site ativa permite a origem '
            f"<code>{shown}</code>. Crie uma com <code>sincro assistant site-key create "
            f"--origin {shown}</code>.</p>"
        )
    page = f"""<!doctype html>
<html lang="pt-BR">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Loja exemplo — atendimento</title>
<link rel="stylesheet" href="/assistant/demo.css">
</head>
<body>
<header><h1>Loja exemplo</h1></header>
<main>
<h2>Bem-vindo!</h2>
{body}
</main>
{tag}
</body>
</html>
"""
    headers = {"Content-Security-Policy": CSP, "X-Frame-Options": "DENY"}
    return HTMLResponse(page, headers=headers)


@router.get("/assistant/{name}", name="assistant_widget_file")
async def widget_file(name: str) -> Response:
    if name not in FILES:
        raise NotFound("no such file")
    return FileResponse(
        STATIC / name,
        media_type=FILES[name],
        headers={"Cache-Control": "public, max-age=300", "X-Content-Type-Options": "nosniff"},
    )
