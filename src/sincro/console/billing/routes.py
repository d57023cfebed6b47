"""The console's "Cobrança" page (admin and the billing role): receivables with the notice
steps sent to their customers, and a chart of notices per day."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from sincro.billing import service
from sincro.console.inventory.routes import fetch_page
from sincro.console.routes import ConsoleUserDep, Pager, app_state, render
from sincro.customers.billing_reads import ReceivableView
from sincro.db import utcnow
from sincro.text_pt import local_time

router = APIRouter(prefix="/console", include_in_schema=False)

PAGE_SIZE = 50
CHART_DAYS = 30
STATUS_FILTERS = {
    "": "Todos",
    "open": "Em aberto",
    "overdue": "Vencidos",
    "paid": "Pagos",
    "cancelled": "Cancelados",
}
STATUS_LABELS = {"open": "Em aberto", "paid": "Pago", "cancelled": "Cancelado"}
NOTICE_STATUS = {
    "queued": "Enviado",
    "duplicate": "Repetido",
    "superseded": "Substituído",
    "invalid": "Sem boleto",
}


def step_label(step: str) -> str:
    """A step as people read it: Emitida, Vence em breve, Vencida há N dias."""
    if step == "issued":
        return "Fatura emitida"
    if step == "due_soon":
        return "Vence em breve"
    if step.startswith("overdue_"):
        days = int(step.removeprefix("overdue_"))
        return f"Vencida há {days} dia{'s' if days != 1 else ''}"
    return step


def notices_chart(rows: Sequence[tuple[dt.date, str, int]], today: dt.date) -> dict[str, Any]:
    """Notices per local day over the last ``CHART_DAYS`` days, one series per status."""
    days = [today - dt.timedelta(days=n) for n in range(CHART_DAYS - 1, -1, -1)]
    counts: dict[tuple[dt.date, str], int] = {(day, status): n for day, status, n in rows}
    series = [
        {"label": label, "data": [counts.get((day, status), 0) for day in days]}
        for status, label in NOTICE_STATUS.items()
    ]
    return {
        "type": "bar",
        "stacked": True,
        "labels": [day.strftime("%d/%m") for day in days],
        "series": series,
        "y_label": "Avisos",
    }


@router.get("/billing", name="console_billing")
def billing_page(
    request: Request, _user: ConsoleUserDep, status: str = "", page: str = ""
) -> Response:
    """Receivables (latest due first) with the steps already sent, filtered by status."""
    status = status if status in STATUS_FILTERS else ""
    pager = Pager.parse(page, PAGE_SIZE)
    state = app_state(request)
    today = local_time(utcnow(), state.settings.console_time_zone).date()
    with state.db.read() as session:
        rows: Sequence[ReceivableView]
        rows, pager = fetch_page(
            pager,
            lambda offset, limit: service.receivables_page(
                session, status=status or None, offset=offset, limit=limit
            ),
        )
        notices = service.notices_for(session, [r.id for r in rows])
        per_day = service.notices_per_day(session, utcnow() - dt.timedelta(days=CHART_DAYS + 1))
    context = {
        "rows": rows,
        "notices": notices,
        "pager": pager,
        "status": status,
        "status_filters": STATUS_FILTERS,
        "status_labels": STATUS_LABELS,
        "notice_status": NOTICE_STATUS,
        "step_label": step_label,
        "per_day": notices_chart(per_day, today),
        "today": today,
    }
    return render(request, "billing/index.html", context, section="billing")
