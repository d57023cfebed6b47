"""The public one-click unsubscribe (RFC 8058), outside ``/v1`` (no key, no session).

``GET /u/{token}`` only shows a pt-BR confirmation page with a button (mail scanners and link
previews follow links: a GET changes nothing). ``POST /u/{token}`` (the mail client's one-click
``List-Unsubscribe=One-Click`` body, or the page's button) withdraws consent to e-mail for the
token's purpose at once — billing notices continue. A forged, altered or expired token gets a
400 page; requests are limited per client address through the shared state."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from sincro.clients import client_address
from sincro.console.routes import render
from sincro.deps import StateDep
from sincro.messaging import compose, service

router = APIRouter(include_in_schema=False)
LIMIT_PER_MINUTE = 30
PURPOSE_LABEL = {
    "marketing": "ofertas e novidades",
    "service": "avisos de serviço",
    "billing": "cobrança",
}


async def _limited(request: Request, state: StateDep) -> Response | None:
    key = f"messaging:unsubscribe:{client_address(request) or 'unknown'}"
    wait = await state.shared.hit_async(key, LIMIT_PER_MINUTE, 60.0)
    if wait > 0:
        response = render(
            request,
            "messaging/unsubscribe.html",
            {"problem": "Muitas tentativas. Tente de novo em um minuto."},
            status_code=429,
        )
        response.headers["Retry-After"] = str(max(1, round(wait)))
        return response
    return None


def _claim(state: StateDep, token: str) -> compose.UnsubscribeClaim:
    max_age = state.settings.messaging_unsubscribe_max_age_days * 86_400
    return compose.read_unsubscribe_token(state.settings.secret_key, token[:2000], max_age)


@router.get("/u/{token}", name="messaging_unsubscribe_page")
async def unsubscribe_page(token: str, request: Request, state: StateDep) -> Response:
    if (limited := await _limited(request, state)) is not None:
        return limited
    try:
        claim = _claim(state, token)
    except ValueError as exc:
        return render(request, "messaging/unsubscribe.html", {"problem": str(exc)}, status_code=400)
    return render(
        request,
        "messaging/unsubscribe.html",
        {"token": token, "purpose": PURPOSE_LABEL.get(claim.purpose, claim.purpose), "done": False},
    )


@router.post("/u/{token}", name="messaging_unsubscribe")
async def unsubscribe(token: str, request: Request, state: StateDep) -> Response:
    if (limited := await _limited(request, state)) is not None:
        return limited
    try:
        claim = _claim(state, token)
    except ValueError as exc:
        return render(request, "messaging/unsubscribe.html", {"problem": str(exc)}, status_code=400)
    if claim.purpose not in PURPOSE_LABEL:
        return render(
            request,
            "messaging/unsubscribe.html",
            {"problem": "Este link de descadastro não é válido."},
            status_code=400,
        )
    evidence = f"campaign:{claim.campaign_id}"
    from starlette.concurrency import run_in_threadpool

    await run_in_threadpool(
        state.run_write,
        lambda s: service.unsubscribe(
            s, claim.customer_id, claim.campaign_id, claim.purpose, evidence
        ),
    )
    return render(
        request,
        "messaging/unsubscribe.html",
        {"purpose": PURPOSE_LABEL[claim.purpose], "done": True},
    )
