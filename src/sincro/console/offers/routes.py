"""The console's "Ofertas" pages (admins): product prices, telecom plans and promotions,
listed and edited with pt-BR forms (money as ``1.234,56``, dates ``aaaa-mm-dd`` from the
date picker). Everything goes through :mod:`sincro.catalog.service`, the same rules as the
``/v1/prices``, ``/v1/plans`` and ``/v1/promotions`` API; a refused form is shown again with
the field named in pt-BR.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, ValidationError
from sqlalchemy.orm import Session

from sincro.audit import Actor
from sincro.catalog import service as catalog
from sincro.catalog.schemas import PlanIn, PriceIn, PromotionIn
from sincro.console.inventory.routes import fetch_page
from sincro.console.routes import (
    ConsoleUserDep,
    Pager,
    SessionUser,
    app_state,
    csrf_ok,
    render,
    url,
)
from sincro.errors import NotFound, SincroError
from sincro.text_pt import parse_decimal_br

router = APIRouter(prefix="/console", include_in_schema=False)

PAGE_SIZE = 25
TABS = {"precos": "Preços", "planos": "Planos", "promocoes": "Promoções"}
FIELD_LABELS = {
    "sku": "SKU",
    "code": "Código",
    "name": "Nome",
    "kind": "Tipo",
    "monthly_price": "Mensalidade",
    "data_gb": "Franquia (GB)",
    "valid_from": "Início",
    "valid_to": "Fim",
    "list_price": "Preço de tabela",
    "sale_price": "Preço promocional",
    "plan": "Plano",
    "discount_percent": "Desconto (%)",
    "promo_price": "Preço da promoção",
    "channel": "Canal",
    "active": "Ativo",
}
MESSAGES = {
    "valid_to is before valid_from": "a data final é anterior à inicial",
    "sale_price is above list_price": "o preço promocional é maior que o de tabela",
    "give exactly one of sku or plan": "informe um SKU ou um plano (apenas um)",
    "give exactly one of discount_percent or promo_price": (
        "informe um desconto (%) ou um preço (apenas um)"
    ),
}
MONEY_FIELDS = ("list_price", "sale_price", "monthly_price", "promo_price", "discount_percent")


class FormError(Exception):
    def __init__(self, messages: list[str]) -> None:
        super().__init__("; ".join(messages))
        self.messages = messages


def _label(field: str) -> str:
    return FIELD_LABELS.get(field, field)


def _form_values(form: dict[str, Any]) -> dict[str, Any]:
    """Blank fields dropped; money typed the Brazilian way (``1.234,56``) made numeric."""
    values: dict[str, Any] = {}
    errors = []
    for name, raw in form.items():
        text = str(raw).strip()
        if name == "csrf" or text == "":
            continue
        if name in MONEY_FIELDS:
            try:
                values[name] = parse_decimal_br(text.removeprefix("R$").strip())
            except ValueError:
                errors.append(f"{_label(name)}: número inválido (use 1.234,56).")
            continue
        values[name] = text
    if errors:
        raise FormError(errors)
    return values


def _validate(model: type[BaseModel], values: dict[str, Any]) -> Any:
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        messages = []
        for error in exc.errors():
            field = str(error["loc"][0]) if error["loc"] else ""
            reason = str(error["msg"]).removeprefix("Value error, ")
            messages.append(f"{_label(field)}: {MESSAGES.get(reason, reason)}.")
        raise FormError(messages) from None


def _page(request: Request, tab: str, context: dict[str, Any], status_code: int = 200) -> Response:
    state = app_state(request)
    pager = Pager.parse(request.query_params.get("page"), PAGE_SIZE)
    sku = request.query_params.get("sku", "").strip()[:40] or None
    with state.db.read() as session:
        plans, _ = catalog.list_plans(session, offset=0, limit=500)
        fetch: Callable[[int, int], tuple[list[Any], int]]
        if tab == "precos":

            def fetch(offset: int, limit: int) -> tuple[list[Any], int]:
                return catalog.list_prices(session, sku=sku, on=None, offset=offset, limit=limit)

        elif tab == "promocoes":

            def fetch(offset: int, limit: int) -> tuple[list[Any], int]:
                return catalog.list_promotions(session, sku=sku, offset=offset, limit=limit)

        else:

            def fetch(offset: int, limit: int) -> tuple[list[Any], int]:
                return catalog.list_plans(session, offset=offset, limit=limit)

        rows, pager = fetch_page(pager, fetch)
    base = {
        "tab": tab,
        "tabs": TABS,
        "rows": rows,
        "pager": pager,
        "plans": plans,
        "sku": sku or "",
        "kind_labels": catalog.PLAN_KIND_LABELS,
        "channel_labels": catalog.CHANNEL_LABELS,
        "errors": [],
        "form": {},
        "notice": {"ok": "Alterações salvas.", "removed": "Removido."}.get(
            request.query_params.get("aviso", "")
        ),
    }
    return render(
        request, "offers/index.html", base | context, section="offers", status_code=status_code
    )


@router.get("/offers", name="console_offers")
def offers_page(request: Request, _user: ConsoleUserDep, aba: str = "precos") -> Response:
    """Prices, plans or promotions (tab ``aba``), with the form to add or change one."""
    return _page(request, aba if aba in TABS else "precos", {})


def _save(
    request: Request,
    user: SessionUser,
    tab: str,
    work: Callable[[Session, dict[str, Any], Actor], Any],
) -> Response:
    if user.role != "admin":
        return render(request, "error.html", {"status": 403}, status_code=403)
    form = dict(request.scope.get("sincro_form", {}))
    if not csrf_ok(request, str(form.get("csrf", ""))):
        message = "Sua sessão expirou. Recarregue a página e tente de novo."
        return _page(request, tab, {"errors": [message], "form": form}, 400)
    try:
        values = _form_values(form)
        actor = Actor.user(user.id, user.name).seen_at(request)
        app_state(request).run_write(lambda session: work(session, values, actor))
    except FormError as exc:
        return _page(request, tab, {"errors": exc.messages, "form": form}, 422)
    except SincroError as exc:
        field = _label(exc.field or "")
        unknown = isinstance(exc, NotFound) or exc.message.startswith("unknown")
        message = "não encontrado" if unknown else exc.message
        return _page(request, tab, {"errors": [f"{field}: {message}."], "form": form}, 422)
    aviso = "removed" if request.url.path.endswith("/remove") else "ok"
    return RedirectResponse(url(request, "console_offers", {"aba": tab, "aviso": aviso}), 303)


async def _read_form(request: Request) -> None:
    async with request.form(max_files=0, max_fields=30) as form:
        request.scope["sincro_form"] = {k: str(v)[:300] for k, v in form.items()}


@router.post("/offers/prices", name="console_offers_price")
async def save_price(request: Request, user: ConsoleUserDep) -> Response:
    await _read_form(request)

    def work(session: Session, values: dict[str, Any], actor: Actor) -> None:
        sku = str(values.pop("sku", "")).upper()
        if not sku:
            raise FormError([f"{_label('sku')}: obrigatório."])
        catalog.upsert_price(
            session, sku, _validate(PriceIn, values), source="console", actor=actor
        )

    return await _threaded(_save, request, user, "precos", work)


@router.post("/offers/prices/remove", name="console_offers_price_remove")
async def remove_price(request: Request, user: ConsoleUserDep) -> Response:
    await _read_form(request)

    def work(session: Session, values: dict[str, Any], actor: Actor) -> None:
        day = _validate(PriceIn, {"valid_from": values.get("valid_from"), "list_price": 0})
        catalog.delete_price(session, str(values.get("sku", "")), day.valid_from, actor=actor)

    return await _threaded(_save, request, user, "precos", work)


@router.post("/offers/plans", name="console_offers_plan")
async def save_plan(request: Request, user: ConsoleUserDep) -> Response:
    await _read_form(request)

    def work(session: Session, values: dict[str, Any], actor: Actor) -> None:
        values["active"] = values.get("active") == "on"
        catalog.upsert_plan(session, _validate(PlanIn, values), source="console", actor=actor)

    return await _threaded(_save, request, user, "planos", work)


@router.post("/offers/promotions", name="console_offers_promotion")
async def save_promotion(request: Request, user: ConsoleUserDep) -> Response:
    await _read_form(request)

    def work(session: Session, values: dict[str, Any], actor: Actor) -> None:
        values["active"] = values.get("active") == "on"
        if "sku" in values:
            values["sku"] = str(values["sku"]).upper()
        catalog.upsert_promotion(
            session, _validate(PromotionIn, values), source="console", actor=actor
        )

    return await _threaded(_save, request, user, "promocoes", work)


@router.post("/offers/promotions/remove", name="console_offers_promotion_remove")
async def remove_promotion(request: Request, user: ConsoleUserDep) -> Response:
    await _read_form(request)

    def work(session: Session, values: dict[str, Any], actor: Actor) -> None:
        catalog.delete_promotion(session, str(values.get("code", "")), actor=actor)

    return await _threaded(_save, request, user, "promocoes", work)


async def _threaded(function: Callable[..., Response], *args: Any) -> Response:
    from starlette.concurrency import run_in_threadpool

    return await run_in_threadpool(function, *args)
