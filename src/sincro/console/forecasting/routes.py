"""Console pages of forecasting: runs and the registry (compare, promote, roll back), and one
series: history with censored days marked, the forecast and its P10–P90 band."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from sincro.catalog.schemas import CODE_PATTERN, SKU_PATTERN
from sincro.console.export import csv_response, parse_form
from sincro.console.routes import ConsoleUserDep, app_state, csrf_ok, not_found, render, url
from sincro.errors import SincroError
from sincro.forecasting import replenishment, runs
from sincro.forecasting.replenishment import Policy
from sincro.inventory import history

router = APIRouter(prefix="/console", include_in_schema=False)
SKU_RE = re.compile(SKU_PATTERN)
CODE_RE = re.compile(CODE_PATTERN)
KEY_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\- ]{0,39}$")
LEVEL_LABELS = {
    "uf": "UF",
    "dc_region": "Região (CD)",
    "online": "Online",
    "total": "Total",
    "location": "Loja/CD",
}
PATTERN_LABELS = {
    "smooth": "regular",
    "erratic": "errático",
    "intermittent": "intermitente",
    "lumpy": "irregular",
    "short": "curta",
    "overall": "todos os padrões",
}
HISTORY_SHOWN_DAYS = 120


@router.get("/forecasts", name="console_forecasts")
def runs_page(request: Request, user: ConsoleUserDep) -> Response:
    """Runs newest first with their metrics per pattern; the registry; two runs compared."""
    state = app_state(request)
    with state.db.read() as session:
        items, total = runs.list_runs(session, limit=30)
        promotions = runs.registry(session)
    chosen = [int(v) for v in request.query_params.getlist("compare") if v.isdigit()][:4]
    compared = [r for r in items if r.id in chosen]
    context = {
        "runs": items,
        "total": total,
        "promotions": promotions,
        "compared": compared,
        "level_labels": LEVEL_LABELS,
        "pattern_labels": PATTERN_LABELS,
    }
    return render(request, "forecasting/runs.html", context, section="forecasts")


@router.post("/forecasts/{run_id}/promote", name="console_forecast_promote")
def promote(
    request: Request,
    run_id: int,
    user: ConsoleUserDep,
    csrf: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """The "Promover" button: serve this run's forecasts for its level."""
    if not csrf_ok(request, csrf):
        return _problem(request, "Sua sessão expirou. Recarregue a página e tente de novo.", 400)
    state = app_state(request)
    try:
        state.run_write(lambda session: runs.promote(session, run_id, f"console:{user.email}"))
    except SincroError as exc:
        return _problem(request, exc.message, exc.status_code)
    return RedirectResponse(url(request, "console_forecasts"), status_code=303)


def _problem(request: Request, message: str, status: int) -> Response:
    return render(
        request,
        "not_found.html",
        {"title": "Não foi possível", "message": message},
        status_code=status,
        section="forecasts",
    )


@router.get("/forecasts/series", name="console_forecast_series")
def series_page(
    request: Request, user: ConsoleUserDep, sku: str = "", level: str = "uf", key: str = ""
) -> Response:
    """One series: the last months of history (censored days marked), the live forecast and
    its P10–P90 band, the champion model and its backtest scores."""
    if not SKU_RE.match(sku) or level not in LEVEL_LABELS or (key and not KEY_RE.match(key)):
        return not_found(request, "Série não encontrada", "Confira o SKU, o nível e o local.")
    state = app_state(request)
    key = level if level in ("online", "total") else key
    with state.db.read() as session:
        try:
            forecast = runs.forecast_for(session, sku, level, key, 90)
        except SincroError as exc:
            return _problem(request, exc.message, 404)
        end = forecast.points[0].day - dt.timedelta(days=1) if forecast.points else dt.date.today()
        start = end - dt.timedelta(days=HISTORY_SHOWN_DAYS - 1)
        past = history.daily_demand(
            session,
            level=level,
            skus=[sku],
            start=start,
            end=end,
        )
    past = past[past["key"] == key]
    sold = {row.day: (int(row.units), bool(row.censored)) for row in past.itertuples()}
    days = [start + dt.timedelta(days=i) for i in range(HISTORY_SHOWN_DAYS)]
    labels = [d.strftime("%d/%m") for d in days] + [
        p.day.strftime("%d/%m") for p in forecast.points
    ]
    gap: list[Any] = [None] * len(forecast.points)
    before: list[Any] = [None] * len(days)
    spec = {
        "type": "line",
        "labels": labels,
        "y_label": "unidades por dia",
        "series": [
            {"label": "Vendido", "data": [sold.get(d, (0, False))[0] for d in days] + gap},
            {
                "label": "Ruptura (demanda censurada)",
                "data": [sold[d][0] if sold.get(d, (0, False))[1] else None for d in days] + gap,
                "points": True,
                "color": "#dc2626",
            },
            {
                "label": "P10",
                "data": before + [p.quantiles.get("10") for p in forecast.points],
                "dashed": True,
                "color": "#93c5fd",
            },
            {
                "label": "P90 (faixa P10–P90)",
                "data": before + [p.quantiles.get("90") for p in forecast.points],
                "fill": "-1",
                "dashed": True,
                "color": "#93c5fd",
            },
            {
                "label": "Previsão (média)",
                "data": before + [round(p.mean, 2) for p in forecast.points],
                "color": "#2563eb",
            },
        ],
    }
    context = {
        "forecast": forecast,
        "spec": spec,
        "level_label": LEVEL_LABELS[level],
        "pattern_label": PATTERN_LABELS.get(forecast.pattern, forecast.pattern),
        "censored_days": sum(1 for d in days if sold.get(d, (0, False))[1]),
    }
    return render(request, "forecasting/series.html", context, section="forecasts")


REPLENISHMENT_HEADER = (
    "SKU",
    "Produto",
    "Padrão",
    "Posição",
    "Média diária",
    "Dias de cobertura",
    "Prazo (dias)",
    "Prob. ruptura",
    "Ponto de pedido",
    "Estoque máximo",
    "Estoque de segurança",
    "Pedido sugerido",
    "Embalagem",
    "Fornecedor",
    "CD",
    "Disponível no CD",
)


@router.get("/forecasts/replenishment", name="console_replenishment")
def replenishment_page(
    request: Request,
    user: ConsoleUserDep,
    location: str = "",
    only: str = "",
    nivel: str = "",
    exportar: str = "",
    formato: str = "",
) -> Response:
    """Reorder advice of one location, filtered to what needs ordering or at risk; CSV in the
    house's two forms."""
    state = app_state(request)
    settings = state.settings
    code = location.strip()[:32]
    if code and not CODE_RE.match(code):
        return not_found(request, "Local não encontrado", "Confira o código da loja ou CD.")
    service_level = settings.forecasting_service_level
    if nivel:
        try:
            service_level = float(nivel.replace(",", ".")) / 100
        except ValueError:
            service_level = settings.forecasting_service_level
    try:
        policy = Policy.from_settings(settings, min(max(service_level, 0.5), 0.999))
    except SincroError:
        policy = Policy()
    rows: list[Any] = []
    problem = ""
    if code:
        with state.db.read() as session:
            try:
                rows = replenishment.advise(session, code, policy)
            except SincroError:
                problem = (
                    f"Não há previsão por loja em uso para “{code}”, ou o local não existe. "
                    "Promova uma execução de nível Loja/CD em Previsão de demanda."
                )
    if only == "pedido":
        rows = [r for r in rows if r.suggested_qty > 0]
    elif only == "risco":
        rows = [r for r in rows if r.stockout_probability >= 0.5]
    if exportar and rows:
        lines = (
            (
                r.sku,
                r.name,
                PATTERN_LABELS.get(r.pattern, r.pattern),
                r.position,
                r.mean_daily,
                r.days_of_cover,
                r.lead_time_days,
                r.stockout_probability,
                r.reorder_point,
                r.order_up_to,
                r.safety_stock,
                r.suggested_qty,
                r.pack_size,
                r.supplier or "",
                r.dc or "",
                "" if r.dc_available is None else r.dc_available,
            )
            for r in rows
        )
        return csv_response(f"reposicao-{code}", REPLENISHMENT_HEADER, lines, parse_form(formato))
    context = {
        "location": code,
        "only": only,
        "rows": rows,
        "problem": problem,
        "service_level": round(policy.service_level * 100, 1),
        "pattern_labels": PATTERN_LABELS,
    }
    return render(request, "forecasting/replenishment.html", context, section="forecasts")
