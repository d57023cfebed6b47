"""The sign-up rules: turn one incoming message into a registration (or a helpful answer),
once per Message-ID.

:func:`record` runs in the caller's transaction: it writes the message's row (unique by
Message-ID) and, for a complete and valid reply, registers the customer and their consent
through the customers service, so the row and the registration commit together or not at
all. Which answer is due (confirmation, what is missing, too big, none) follows from the row
and the message, so a restart rebuilds the same answer with the same Message-ID
(:func:`reply_for`). Services take a session and never commit.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import make_msgid, parseaddr

from sqlalchemy.orm import Session

from sincro.catalog import service as catalog
from sincro.config import Settings
from sincro.customers import service as customers
from sincro.customers.schemas import CustomerRegistration
from sincro.db import utcnow
from sincro.signup import replies, repository as repo
from sincro.signup.inbound import Inbound
from sincro.signup.models import SignupMessage
from sincro.signup.parsing import Checked, Problem, check, parse

SOURCE = "signup-mail"
REGISTERED, INCOMPLETE, INVALID, IGNORED, REFUSED = (
    "registered",
    "incomplete",
    "invalid",
    "ignored",
    "refused",
)
MISSING_MESSAGE = "Faltou informar"


@dataclass(frozen=True, slots=True)
class Outcome:
    row_id: int
    outcome: str
    customer_id: int | None
    reply_due: bool  # an answer is planned and not sent yet


def find(session: Session, key: str) -> SignupMessage | None:
    return repo.find(session, key)


def known_cities(session: Session) -> list[tuple[str, str]]:
    """(city, UF) of every location in the catalog's directory."""
    return sorted({(p.city, p.state) for p in catalog.directory(session).places})


def examine(session: Session, inbound: Inbound) -> Checked:
    """Parse and check a message's text (the cities of the location directory known)."""
    return check(parse(inbound.text, inbound.sender or None), known_cities(session))


def record(
    session: Session,
    inbound: Inbound,
    settings: Settings,
    *,
    too_big: bool = False,
    now: dt.datetime | None = None,
) -> Outcome:
    """Write the message's row and, for a valid sign-up, register the customer with their
    consent (evidence: the message). Raises ``IntegrityError`` at flush when another process
    recorded the same Message-ID first (the caller's transaction then rolls back)."""
    now = now or utcnow()
    checked: Checked | None = None
    if inbound.automatic:
        outcome = IGNORED
    elif too_big:
        outcome = REFUSED
    else:
        checked = examine(session, inbound)
        if checked.valid is not None:
            outcome = REGISTERED
        elif all(p.message.startswith(MISSING_MESSAGE) for p in checked.problems):
            outcome = INCOMPLETE
        else:
            outcome = INVALID
    reply_due = (
        outcome != IGNORED
        and bool(inbound.sender)
        and _within_reply_limit(session, inbound.sender, settings, now)
    )
    row = repo.add(
        session,
        SignupMessage(
            message_key=inbound.key,
            message_id=inbound.message_id[:255],
            sender=inbound.sender[:200],
            subject=inbound.subject[:200],
            outcome=outcome,
            problems=[p.field for p in checked.problems] if checked else [],
            reply_message_id=make_msgid(domain=_domain(settings.signup_address))
            if reply_due
            else None,
            received_at=now,
        ),
    )
    if checked is not None and checked.valid is not None:
        valid = checked.valid
        registered = customers.register_customer(
            session,
            CustomerRegistration(
                name=valid.name,
                document=valid.document,
                email=valid.email,
                phone=valid.phone,
                city=valid.city,
                state=valid.state,
                plan_interest=valid.plan[:60] if valid.plan else None,
                birth_date=valid.birth_date,
            ),
            source=SOURCE,
        )
        evidence = f"e-mail {inbound.message_id or inbound.key} de {inbound.sender}"[:300]
        customers.record_consent(
            session,
            registered.customer_id,
            channel="email",
            purpose="service",
            granted=True,
            source=SOURCE,
            evidence=evidence,
        )
        if valid.marketing is not None:
            customers.record_consent(
                session,
                registered.customer_id,
                channel="email",
                purpose="marketing",
                granted=valid.marketing,
                source=SOURCE,
                evidence=evidence,
            )
        row.customer_id, row.created = registered.customer_id, registered.created
    return Outcome(row.id, outcome, row.customer_id, reply_due)


def _within_reply_limit(
    session: Session, sender: str, settings: Settings, now: dt.datetime
) -> bool:
    """At most ``signup_replies_per_address_per_hour`` answers to one address: a person (or a
    robot we failed to spot) writing in a loop gets no flood back."""
    since = now - dt.timedelta(hours=1)
    return repo.replies_since(session, sender, since) < settings.signup_replies_per_address_per_hour


def _domain(address: str) -> str:
    return parseaddr(address)[1].rpartition("@")[2] or "sincro"


def reply_for(
    session: Session, row: SignupMessage, inbound: Inbound, settings: Settings
) -> EmailMessage | None:
    """The answer a recorded message gets (None: none is due or it went out already). Built
    again from the message after a restart: same text, same Message-ID."""
    if row.reply_message_id is None or row.replied_at is not None:
        return None
    sender = settings.signup_address
    if row.outcome == REFUSED:
        return replies.too_big(
            inbound, settings.signup_max_message_bytes, sender, row.reply_message_id
        )
    checked = examine(session, inbound)
    if row.outcome == REGISTERED and checked.valid is not None:
        return replies.confirmation(inbound, checked.valid, sender, row.reply_message_id)
    problems = checked.problems or [Problem(f, f"Confira {f}.") for f in row.problems]
    return replies.incomplete(inbound, problems, sender, row.reply_message_id)


def mark_replied(session: Session, row_id: int) -> None:
    repo.mark_replied(session, row_id, utcnow())


def recent(session: Session, limit: int = 50) -> list[SignupMessage]:
    return repo.recent(session, limit)
