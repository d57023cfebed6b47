"""The console's "Avise-me" page (admin and agents): customers waiting for a SKU at a place,
and when each was told."""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import APIRouter, Request
from fastapi.responses import Response

from sincro.console.inventory.routes import fetch_page
from sincro.console.routes import ConsoleUserDep, Pager, app_state, render
from sincro.wishes import service
from sincro.wishes.models import StockWish

router = APIRouter(prefix="/console", include_in_schema=False)

PAGE_SIZE = 50
STATUS_FILTERS = {"": "Todos", "open": "Aguardando", "notified": "Avisados"}
SOURCE_LABELS = {"web": "Site", "chat": "Chat", "api": "API"}


def place_label(wish: StockWish) -> str:
    if wish.scope == "online":
        return "Online"
    if wish.scope == "city":
        return f"Lojas de {wish.city}/{wish.state}"
    return wish.location_code or "–"


@router.get("/wishes", name="console_wishes")
def wishes_page(
    request: Request, _user: ConsoleUserDep, status: str = "", sku: str = "", page: str = ""
) -> Response:
    status = status if status in STATUS_FILTERS else ""
    sku = sku.strip()[:40]
    pager = Pager.parse(page, PAGE_SIZE)
    with app_state(request).db.read() as session:
        rows: Sequence[StockWish]
        rows, pager = fetch_page(
            pager,
            lambda offset, limit: service.list_wishes(
                session, sku=sku or None, status=status or None, offset=offset, limit=limit
            ),
        )
        names = service.customer_names(session, [w.customer_id for w in rows])
    context = {
        "rows": rows,
        "names": names,
        "pager": pager,
        "status": status,
        "sku": sku,
        "status_filters": STATUS_FILTERS,
        "source_labels": SOURCE_LABELS,
        "place_label": place_label,
    }
    return render(request, "wishes/index.html", context, section="wishes")
