"""All SQL of the sign-up service: its processed-message table."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from sincro.signup.models import SignupMessage


def find(session: Session, key: str) -> SignupMessage | None:
    return session.scalar(select(SignupMessage).where(SignupMessage.message_key == key))


def add(session: Session, row: SignupMessage) -> SignupMessage:
    session.add(row)
    session.flush()  # the unique Message-ID key is checked here, inside the transaction
    return row


def replies_since(session: Session, sender: str, since: dt.datetime) -> int:
    """Replies planned to ``sender`` for messages received since ``since``."""
    return int(
        session.scalar(
            select(func.count())
            .select_from(SignupMessage)
            .where(
                SignupMessage.sender == sender,
                SignupMessage.received_at >= since,
                SignupMessage.reply_message_id.is_not(None),
            )
        )
        or 0
    )


def mark_replied(session: Session, row_id: int, at: dt.datetime) -> None:
    session.execute(
        update(SignupMessage)
        .where(SignupMessage.id == row_id, SignupMessage.replied_at.is_(None))
        .values(replied_at=at)
    )


def recent(session: Session, limit: int) -> list[SignupMessage]:
    return list(
        session.scalars(select(SignupMessage).order_by(SignupMessage.id.desc()).limit(limit))
    )


def of_customer(session: Session, customer_id: int) -> list[SignupMessage]:
    return list(
        session.scalars(
            select(SignupMessage)
            .where(SignupMessage.customer_id == customer_id)
            .order_by(SignupMessage.id)
        )
    )


def anonymize_customer(session: Session, customer_id: int) -> int:
    """Blank the sender, subject and Message-ID of a customer's sign-up rows (the key stays)."""
    result = session.execute(
        update(SignupMessage)
        .where(SignupMessage.customer_id == customer_id, SignupMessage.sender != "")
        .values(sender="", subject="", message_id="")
    )
    return int(getattr(result, "rowcount", 0) or 0)
