"""LGPD for the sign-up service (:mod:`sincro.privacy`): the sign-up messages that registered
a customer, exported, or stripped of the person on erasure (the row stays, keyed by the hash
of its Message-ID, so a redelivered message is still recognised and not registered again)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from sincro.signup import repository as repo


class SignupPersonalData:
    def export(self, session: Session, customer_id: int) -> dict[str, Any]:
        return {
            "messages": [
                {
                    "message_id": row.message_id,
                    "sender": row.sender,
                    "subject": row.subject,
                    "outcome": row.outcome,
                    "received_at": row.received_at.isoformat(),
                    "replied_at": row.replied_at.isoformat() if row.replied_at else None,
                }
                for row in repo.of_customer(session, customer_id)
            ]
        }

    def erase(self, session: Session, customer_id: int) -> dict[str, int]:
        return {"signup_messages": repo.anonymize_customer(session, customer_id)}


PERSONAL_DATA = SignupPersonalData()
