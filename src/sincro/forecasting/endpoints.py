"""HTTP API of forecasting: runs, forecasts and the registry (``/v1``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from sincro.deps import AdminKey, CurrentKey, StateDep
from sincro.errors import error_responses
from sincro.forecasting import replenishment, runs
from sincro.forecasting.replenishment import Policy
from sincro.forecasting.schemas import (
    ForecastOut,
    Level,
    PromotionOut,
    RunOut,
    RunScope,
)

router = APIRouter(prefix="/v1", tags=["forecasting"])
RunId = Annotated[int, Path(ge=1, le=2**31 - 1, description="Forecast run id (its version)")]


@router.post(
    "/forecasts/runs",
    status_code=202,
    response_model=RunOut,
    summary="Start a forecast run",
    responses=error_responses(404, 422),
)
def start_run(scope: RunScope, state: StateDep, _key: AdminKey) -> RunOut:
    """Plan a run over the scope and queue its chunks on the ``forecast`` workers; follow its
    progress with ``GET /v1/forecasts/runs/{id}``."""
    from sincro.forecasting.tasks import enqueue

    def work(session: Session) -> tuple[int, RunOut, list[int]]:
        run = runs.start(session, scope, max_history=state.settings.forecasting_max_history)
        return run.id, runs.run_out(session, run), list(range(run.chunks_total))

    run_id, out, chunks = state.run_write(work)
    enqueue(run_id, chunks)
    return out


@router.get("/forecasts/runs", response_model=list[RunOut], summary="Forecast runs, newest first")
def list_runs(
    state: StateDep,
    _key: AdminKey,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> list[RunOut]:
    with state.db.read() as session:
        return runs.list_runs(session, limit, offset)[0]


@router.get(
    "/forecasts/runs/{run_id}",
    response_model=RunOut,
    summary="A run: progress, data window, versions, metrics",
    responses=error_responses(404),
)
def get_run(run_id: RunId, state: StateDep, _key: AdminKey) -> RunOut:
    with state.db.read() as session:
        return runs.run_out(session, runs.get_run(session, run_id))


@router.get(
    "/forecasts/runs/{run_id}/monitor",
    summary="How a run's forecasts did against the actuals, per pattern and day",
    responses=error_responses(404),
)
def get_monitor(run_id: RunId, state: StateDep, _key: AdminKey) -> dict[str, Any]:
    from sincro.forecasting import monitor

    with state.db.read() as session:
        runs.get_run(session, run_id)
        return monitor.summary(session, run_id)


@router.post(
    "/forecasts/runs/{run_id}/promote",
    response_model=PromotionOut,
    summary="Serve this run's forecasts for its level",
    responses=error_responses(404, 409),
)
def promote(run_id: RunId, state: StateDep, key: AdminKey) -> PromotionOut:
    return state.run_write(lambda session: runs.promote(session, run_id, key.source))


@router.post(
    "/forecasts/registry/{level}/rollback",
    response_model=PromotionOut,
    summary="Go back to the previously promoted run of a level",
    responses=error_responses(404, 409),
)
def rollback(level: Level, state: StateDep, _key: AdminKey) -> PromotionOut:
    return state.run_write(lambda session: runs.rollback(session, level))


@router.get(
    "/forecasts/registry",
    response_model=list[PromotionOut],
    summary="Promotions, newest first",
)
def registry(state: StateDep, _key: AdminKey, level: Level | None = None) -> list[PromotionOut]:
    with state.db.read() as session:
        return runs.registry(session, level)


@router.get(
    "/forecasts/{sku}",
    response_model=ForecastOut,
    summary="Quantile forecast of a SKU at one place",
    responses=error_responses(404, 422),
)
def get_forecast(
    sku: Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,39}$")],
    state: StateDep,
    _key: CurrentKey,
    level: Level = "uf",
    location: Annotated[
        str,
        Query(
            pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\- ]{0,39}$",
            description="Location code, UF, region, or 'online'/'total' per level",
        ),
    ] = "total",
    horizon: Annotated[int, Query(ge=1, le=365)] = 28,
    run: Annotated[
        int | None, Query(ge=1, le=2**31 - 1, description="A run (default: live)")
    ] = None,
) -> ForecastOut:
    """The P10/P50/P90 (and any level the run kept) of the live run for ``level``."""
    key = level if level in ("online", "total") else location
    with state.db.read() as session:
        return runs.forecast_for(session, sku, level, key, horizon, run)


class ReplenishmentRow(BaseModel):
    sku: str
    name: str
    pattern: str
    on_hand: int
    position: int
    mean_daily: float
    days_of_cover: float | None
    lead_time_days: int
    review_days: int
    stockout_probability: float
    reorder_point: int
    order_up_to: int
    safety_stock: int
    suggested_qty: int
    pack_size: int
    supplier: str | None
    dc: str | None
    dc_available: int | None
    dc_can_serve: bool | None
    flags: list[str]


class SafetyStockIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    location: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$")
    skus: list[str] | None = Field(default=None, max_length=5000)
    service_level: float | None = Field(default=None, ge=0.5, lt=1.0)


def _policy(state: Any, service_level: float | None, review_days: int | None) -> Policy:
    return Policy.from_settings(state.settings, service_level, review_days)


@router.get(
    "/replenishment",
    response_model=list[ReplenishmentRow],
    summary="Reorder advice per SKU at one location",
    responses=error_responses(404, 422),
)
def get_replenishment(
    state: StateDep,
    _key: AdminKey,
    location: Annotated[str, Query(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$")],
    service_level: Annotated[float | None, Query(ge=0.5, lt=1.0)] = None,
    review_days: Annotated[int | None, Query(ge=1, le=90)] = None,
) -> list[ReplenishmentRow]:
    """Days of cover, stock-out probability before the next delivery, reorder point, order-up-
    to level, safety stock and the suggested order (pack-rounded) from the live forecast."""
    policy = _policy(state, service_level, review_days)
    with state.db.read() as session:
        advice = replenishment.advise(session, location, policy)
    return [ReplenishmentRow(**replenishment.as_dict(a)) for a in advice]


@router.post(
    "/replenishment/safety-stock",
    summary="Write the advised safety stock into inventory",
    responses=error_responses(404, 422),
)
def post_safety_stock(body: SafetyStockIn, state: StateDep, key: AdminKey) -> dict[str, int]:
    """Set inventory's safety stock of the location's SKUs to the advised values (audited)."""
    policy = _policy(state, body.service_level, None)

    def work(session: Session) -> int:
        advice = replenishment.advise(session, body.location, policy, body.skus)
        return replenishment.write_safety_stock(session, body.location, advice, key.source)

    return {"changed": state.run_write(work)}
