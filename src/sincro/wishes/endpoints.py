"""HTTP API of stock wishes ("Avise-me"): channel keys (the e-commerce site, the chat) and
admins."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response
from sqlalchemy.orm import Session

from sincro.catalog.schemas import Page
from sincro.deps import ChannelKey, Limit, Offset, StateDep, row_id_path
from sincro.errors import error_responses
from sincro.wishes import service
from sincro.wishes.schemas import WishCreated, WishIn, WishOut

router = APIRouter(prefix="/v1", tags=["stock wishes"])
WishId = Annotated[int, row_id_path("Wish id")]


@router.post(
    "/stock-wishes",
    response_model=WishCreated,
    status_code=201,
    responses={
        200: {"model": WishCreated, "description": "The same open wish already existed"},
        **error_responses(409),
    },
)
def create_wish(body: WishIn, response: Response, state: StateDep, _key: ChannelKey) -> WishCreated:
    """Tell a known customer (``customer_id`` or ``email``) once when ``sku`` becomes
    available at ``location`` (a location code, or ``"online"``: any location that ships
    online) or at any store of ``city``/``state``. Stock changes after this request count;
    one e-mail per wish. The same open wish again answers 200 with ``created: false``."""
    max_open = state.settings.wishes_max_open_per_customer

    def work(session: Session) -> WishCreated:
        wish, created = service.create_wish(session, body, max_open=max_open)
        return WishCreated(**WishOut.model_validate(wish).model_dump(), created=created)

    out = state.run_write(work)
    if not out.created:
        response.status_code = 200
    return out


@router.get("/stock-wishes", response_model=Page[WishOut])
def list_wishes(
    state: StateDep,
    _key: ChannelKey,
    customer_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    sku: Annotated[str | None, Query(min_length=1, max_length=40)] = None,
    status: Literal["open", "notified"] | None = None,
    offset: Offset = 0,
    limit: Limit = 50,
) -> Page[WishOut]:
    """Wishes, newest first, by customer, SKU and status."""
    with state.db.read() as session:
        rows, total = service.list_wishes(
            session, customer_id=customer_id, sku=sku, status=status, offset=offset, limit=limit
        )
        items = [WishOut.model_validate(r) for r in rows]
    return Page[WishOut](items=items, total=total, offset=offset, limit=limit)


@router.get("/stock-wishes/{wish_id}", response_model=WishOut)
def get_wish(wish_id: WishId, state: StateDep, _key: ChannelKey) -> WishOut:
    with state.db.read() as session:
        return WishOut.model_validate(service.get_wish(session, wish_id))


@router.delete("/stock-wishes/{wish_id}", status_code=204, response_class=Response)
def delete_wish(wish_id: WishId, state: StateDep, _key: ChannelKey) -> Response:
    """The customer no longer wants to be told."""
    state.run_write(lambda s: service.delete_wish(s, wish_id))
    return Response(status_code=204)
