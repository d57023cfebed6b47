"""Console pages of the demo mailbox ("Caixa de saída (demo)"): what the local SMTP sink
received, newest first, searchable by recipient or subject, and one message with its headers
(Message-ID, List-Unsubscribe…), its text part and its HTML part.

The HTML part is sanitized (nh3) and shown in a sandboxed frame (no scripts, no same-origin)
whose own response forbids every remote load (``default-src 'none'``; images only ``data:``),
so a message can neither run code nor call home. Only admins; only when the sink's file is
known (embedded mode, or ``SINCRO_MAILBOX_SINK_PATH``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from sincro.console.inventory.routes import fetch_page
from sincro.console.routes import ConsoleUserDep, Pager, app_state, not_found, render
from sincro.mailbox import service as mailbox
from sincro.mailbox.store import StoredMessage

router = APIRouter(prefix="/console", include_in_schema=False)

PAGE_SIZE = 50
SECTION = "mailbox"
FRAME_HEADERS = {
    "Content-Security-Policy": (
        "sandbox; default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
        "frame-ancestors 'self'; base-uri 'none'; form-action 'none'"
    ),
    "X-Frame-Options": "SAMEORIGIN",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def _row(message: StoredMessage) -> dict[str, Any]:
    return {
        "id": message.id,
        "received_at": dt.datetime.fromtimestamp(message.received_at, dt.UTC),
        "mail_from": message.mail_from,
        "rcpt_to": message.rcpt_to,
        "subject": message.subject or "(sem assunto)",
        "size": message.size,
        "has_body": message.body is not None,
    }


def _unavailable(request: Request) -> Response:
    return render(request, "mailbox/unavailable.html", section=SECTION)


@router.get("/mailbox", name="console_mailbox")
async def mailbox_page(
    request: Request, _user: ConsoleUserDep, q: str = "", page: str = ""
) -> Response:
    """The sink's messages, newest first; ``q`` filters by recipient or subject."""
    settings = app_state(request).settings
    if mailbox.sink_path(settings) is None:
        return _unavailable(request)
    query = q.strip()[:200]
    conn = mailbox.open_sink(settings)
    if conn is None:  # configured; the sink has not received anything yet
        context = {"q": query, "messages": [], "pager": Pager(1, PAGE_SIZE, 0)}
        return render(request, "mailbox/index.html", context, section=SECTION)
    try:
        messages, pager = await run_in_threadpool(
            fetch_page,
            Pager.parse(page, PAGE_SIZE),
            lambda offset, limit: mailbox.page(conn, query, offset, limit),
        )
    finally:
        conn.close()
    context = {"q": query, "messages": [_row(m) for m in messages], "pager": pager}
    return render(request, "mailbox/index.html", context, section=SECTION)


@router.get("/mailbox/{message_id}", name="console_mailbox_message")
async def message_page(request: Request, message_id: int, _user: ConsoleUserDep) -> Response:
    """One message: envelope, headers, text part and the HTML part in a sandboxed frame."""
    found = await run_in_threadpool(_view, request, message_id)
    if found is None:
        return not_found(
            request, "Mensagem não encontrada", "A caixa de demonstração não tem essa mensagem."
        )
    context = {"message": _row(found.stored), "view": found}
    return render(request, "mailbox/message.html", context, section=SECTION)


@router.get("/mailbox/{message_id}/html", name="console_mailbox_html")
async def message_html(request: Request, message_id: int, user: ConsoleUserDep) -> Response:
    """The sanitized HTML part alone, for the sandboxed frame of the message page."""
    if user.role != "admin":
        return HTMLResponse("", status_code=403, headers=FRAME_HEADERS)
    found = await run_in_threadpool(_view, request, message_id)
    if found is None or found.html is None:
        return HTMLResponse("", status_code=404, headers=FRAME_HEADERS)
    page = f'<!doctype html><meta charset="utf-8"><base target="_blank">{found.html}'
    return HTMLResponse(page, headers=FRAME_HEADERS)


def _view(request: Request, message_id: int) -> mailbox.MessageView | None:
    conn = mailbox.open_sink(app_state(request).settings)
    if conn is None:
        return None
    try:
        return mailbox.view(conn, message_id)
    finally:
        conn.close()
