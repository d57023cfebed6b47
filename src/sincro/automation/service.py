"""Marketing automation's one door: rules (validated, audited), the offer templates, the
interests overview, results, the background run (:func:`run_once`) and a customer's data.

Functions take the caller's session and never commit, except :func:`run_once`, which runs
its steps in transactions of their own on a :class:`~sincro.db.Database`."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from sincro import audit
from sincro.automation import repository as repo
from sincro.automation.conversions import record_conversions
from sincro.automation.exceptions import RuleNotFound, UnsuitableTemplate
from sincro.automation.interests import has_interactions, process_interactions
from sincro.automation.messages import OFFER_VARIABLES, ensure_templates
from sincro.automation.models import Rule
from sincro.automation.rules import EvalRun, evaluate
from sincro.automation.schemas import (
    DayResult,
    InterestGroup,
    Results,
    RuleIn,
    RuleOut,
    RuleResult,
)
from sincro.config import Settings
from sincro.db import Database, utcnow
from sincro.errors import SincroError
from sincro.messaging import service as messaging
from sincro.messaging.service import MessageTemplate

log = logging.getLogger("sincro.automation")
MAX_READS = 50  # outbox batches per run; the next beat continues


# --- rules ----------------------------------------------------------------------------------


def list_rules(session: Session) -> list[Rule]:
    return repo.rules(session)


def get_rule(session: Session, rule_id: int) -> Rule:
    found = repo.rule(session, rule_id)
    if found is None:
        raise RuleNotFound(f"rule {rule_id} not found", field="id")
    return found


def offer_templates(session: Session) -> list[MessageTemplate]:
    """The templates a rule may use (marketing, variables among the offers'), the default
    offer templates registered first."""
    ensure_templates(session)
    rows, _total = messaging.list_templates(session, 0, 500)
    return [t for t in rows if _unsuitable(t) is None]


def _unsuitable(template: MessageTemplate) -> str | None:
    if template.purpose != "marketing":
        return "the template's purpose must be marketing (offers need marketing consent)"
    unknown = sorted(set(template.variables) - set(OFFER_VARIABLES))
    if unknown:
        return f"offers do not give the variables {', '.join(unknown)}"
    return None


def _check_template(session: Session, template_id: int) -> None:
    try:
        template = messaging.get_template(session, template_id)
    except SincroError:
        raise UnsuitableTemplate(f"no template {template_id}", field="template_id") from None
    problem = _unsuitable(template)
    if problem is not None:
        raise UnsuitableTemplate(problem, field="template_id")


def _snapshot(rule: Rule) -> dict[str, Any]:
    return RuleIn.model_validate(rule, from_attributes=True).model_dump(mode="json")


def create_rule(session: Session, body: RuleIn, actor: audit.Actor) -> Rule:
    """A new rule (422 naming ``template_id`` for a template offers cannot use); audited."""
    _check_template(session, body.template_id)
    now = utcnow()
    rule = Rule(**body.model_dump(), created_by=actor.label, created_at=now, updated_at=now)
    session.add(rule)
    session.flush()
    audit.record(
        session, actor, "automation.rule.create", audit.Entity("automation_rule", rule.id),
        after=_snapshot(rule),
    )  # fmt: skip
    return rule


def update_rule(session: Session, rule_id: int, body: RuleIn, actor: audit.Actor) -> Rule:
    """Change a rule (the offers it made stay, and still count as made); audited."""
    rule = repo.rule(session, rule_id, lock=True)
    if rule is None:
        raise RuleNotFound(f"rule {rule_id} not found", field="id")
    _check_template(session, body.template_id)
    before = _snapshot(rule)
    for name, value in body.model_dump().items():
        setattr(rule, name, value)
    rule.updated_at = utcnow()
    session.flush()
    audit.record(
        session, actor, "automation.rule.update", audit.Entity("automation_rule", rule.id),
        before=before, after=_snapshot(rule),
    )  # fmt: skip
    return rule


def rule_out(rule: Rule) -> RuleOut:
    return RuleOut.model_validate(rule)


# --- interests and results ------------------------------------------------------------------


def interest_groups(session: Session, *, days: int, limit: int = 200) -> list[InterestGroup]:
    """What customers asked about in the last ``days`` days, most customers first."""
    since = utcnow() - dt.timedelta(days=days)
    return [
        InterestGroup(
            kind=r.kind,
            ref=r.ref,
            customers=int(r.customers),
            interactions=int(r.hits or 0),
            last_seen=r.last_seen,
        )
        for r in repo.interest_summary(session, since, limit)
    ]


def results(
    session: Session, settings: Settings, start: dt.date, end: dt.date, zone: str
) -> Results:
    """Offers sent per rule and per day from ``start`` through ``end`` (days in ``zone``),
    with their conversions (by the day the offer was sent per rule; by the day it converted
    per day)."""
    tz = ZoneInfo(zone)
    since = dt.datetime.combine(start, dt.time(), tz).astimezone(dt.UTC)
    until = dt.datetime.combine(end + dt.timedelta(days=1), dt.time(), tz).astimezone(dt.UTC)
    per_rule = repo.results_per_rule(session, since, until)
    rules = [
        RuleResult(
            rule_id=r.id,
            name=r.name,
            kind=r.kind,
            offers=per_rule.get(r.id, (0, 0))[0],
            conversions=per_rule.get(r.id, (0, 0))[1],
        )
        for r in repo.rules(session)
    ]
    days = {start + dt.timedelta(days=n): [0, 0] for n in range((end - start).days + 1)}
    for offer in repo.sent_per_day(session, since, until):
        sent_day = offer.sent_at.astimezone(tz).date()
        if sent_day in days:
            days[sent_day][0] += 1
        if offer.converted_at is not None:
            converted_day = offer.converted_at.astimezone(tz).date()
            if converted_day in days:
                days[converted_day][1] += 1
    return Results(
        start=start,
        end=end,
        conversion_days=settings.automation_conversion_days,
        rules=rules,
        days=[DayResult(day=d, offers=o, conversions=c) for d, (o, c) in sorted(days.items())],
    )


# --- the background run ---------------------------------------------------------------------


@dataclass(slots=True)
class Run:
    interactions: int = 0
    interests: int = 0
    offers: int = 0
    conversions: int = 0
    evaluation: EvalRun | None = None


def run_once(db: Database, settings: Settings, *, now: dt.datetime | None = None) -> Run:
    """Read the interactions until caught up (bounded), evaluate the rules, record the
    conversions: each step in its own transaction."""
    out = Run()
    with db.read() as session:
        behind = has_interactions(session)
    for _ in range(MAX_READS if behind else 0):
        with db.write() as session:
            read = process_interactions(session, settings, now=now)
        out.interactions += read.interactions
        out.interests += read.interests
        if read.events < settings.automation_batch:
            break
    with db.write() as session:
        out.evaluation = evaluate(session, settings, now=now)
        out.offers = out.evaluation.sent
    with db.write() as session:
        out.conversions = record_conversions(session, settings, now=now)
    return out


# --- personal data --------------------------------------------------------------------------


def export_customer(session: Session, customer_id: int) -> dict[str, Any]:
    """A customer's interests and the offers made to them (LGPD export)."""
    return {
        "interests": [
            {
                "kind": i.kind,
                "ref": i.ref,
                "strength": round(i.strength, 4),
                "strength_at": i.strength_at.isoformat(),
                "interactions": i.hits,
                "first_seen": i.first_seen.isoformat(),
                "last_seen": i.last_seen.isoformat(),
                "city": i.city,
                "state": i.state,
                "wish_id": i.wish_id,
            }
            for i in repo.interests_of(session, customer_id)
        ],
        "offers": [
            {
                "rule_id": o.rule_id,
                "kind": o.kind,
                "ref": o.ref,
                "code": o.code,
                "sent_at": o.sent_at.isoformat(),
                "converted_at": o.converted_at.isoformat() if o.converted_at else None,
            }
            for o in repo.offers_of(session, customer_id)
        ],
    }


def erase_customer(session: Session, customer_id: int) -> dict[str, int]:
    """Forget a customer's interests (what they asked about). Offers stay for the rules'
    counts, tied only to the customer record customers anonymizes."""
    return {"interests": repo.remove_interests_of(session, customer_id)}


def template_names(session: Session, ids: list[int]) -> dict[int, str]:
    """Names of message templates by id (the rules list)."""
    out: dict[int, str] = {}
    for template_id in sorted(set(ids)):
        try:
            out[template_id] = messaging.get_template(session, template_id).name
        except SincroError:
            continue
    return out
