"""HTTP API of marketing automation (admin and marketing keys): rules, the templates they may
use, the interests overview (aggregates) and results."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from sincro.access import service as access
from sincro.automation import service
from sincro.automation.schemas import InterestGroup, Results, RuleIn, RuleOut
from sincro.deps import StateDep, role, row_id_path
from sincro.errors import InvalidInput, error_responses
from sincro.messaging.schemas import TemplateOut

router = APIRouter(prefix="/v1/automation", tags=["marketing automation"])
MarketingKey = Annotated[access.Principal, Depends(role(access.Role.marketing))]
RuleId = Annotated[int, row_id_path("Rule id")]
MAX_RESULT_DAYS = 366


@router.get("/rules", response_model=list[RuleOut])
def list_rules(state: StateDep, _key: MarketingKey) -> list[RuleOut]:
    with state.db.read() as session:
        return [service.rule_out(r) for r in service.list_rules(session)]


@router.post("/rules", response_model=RuleOut, status_code=201, responses=error_responses(422))
def create_rule(body: RuleIn, request: Request, state: StateDep, key: MarketingKey) -> RuleOut:
    """A rule: interests of ``kind`` at least ``min_strength`` strong seen within
    ``within_days`` get the marketing template ``template_id`` once per trigger, with consent,
    the frequency cap and the quiet hours. 422 ``unsuitable_template`` names ``template_id``
    when the template is not marketing or needs variables offers do not give."""
    return state.run_write(
        lambda s: service.rule_out(service.create_rule(s, body, key.actor(request)))
    )


@router.get("/rules/{rule_id}", response_model=RuleOut, responses=error_responses(404))
def get_rule(rule_id: RuleId, state: StateDep, _key: MarketingKey) -> RuleOut:
    with state.db.read() as session:
        return service.rule_out(service.get_rule(session, rule_id))


@router.put("/rules/{rule_id}", response_model=RuleOut, responses=error_responses(404, 422))
def update_rule(
    rule_id: RuleId, body: RuleIn, request: Request, state: StateDep, key: MarketingKey
) -> RuleOut:
    return state.run_write(
        lambda s: service.rule_out(service.update_rule(s, rule_id, body, key.actor(request)))
    )


@router.get("/templates", response_model=list[TemplateOut])
def offer_templates(state: StateDep, _key: MarketingKey) -> list[TemplateOut]:
    """The templates a rule may use (the default offer templates are registered first)."""
    return state.run_write(
        lambda s: [TemplateOut.model_validate(t) for t in service.offer_templates(s)]
    )


@router.get("/interests", response_model=list[InterestGroup])
def interests(
    state: StateDep,
    _key: MarketingKey,
    days: Annotated[int, Query(ge=1, le=365)] = 30,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[InterestGroup]:
    """What customers asked the assistant about lately, grouped (nobody is named)."""
    with state.db.read() as session:
        return service.interest_groups(session, days=days, limit=limit)


@router.get("/results", response_model=Results, responses=error_responses(422))
def results(
    state: StateDep,
    _key: MarketingKey,
    start: dt.date | None = None,
    end: dt.date | None = None,
) -> Results:
    """Offers sent and converted per rule and per day (days in the console's time zone);
    the last 30 days by default."""
    settings = state.settings
    end = end or dt.date.today()
    start = start or end - dt.timedelta(days=29)
    if start > end:
        raise InvalidInput("start is after end", field="start")
    if (end - start).days >= MAX_RESULT_DAYS:
        raise InvalidInput(f"at most {MAX_RESULT_DAYS} days", field="start")
    with state.db.read() as session:
        return service.results(session, settings, start, end, settings.console_time_zone)
