"""Messaging's part of an LGPD export or erasure (the kernel's :mod:`sincro.privacy` hook)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from sincro.messaging import service


class MessagingPersonalData:
    """The messages sent to (or withheld from) a customer; erasure blanks the address, name
    and contents in the ledger and keeps the rows, so every campaign's counts stay true."""

    def export(self, session: Session, customer_id: int) -> dict[str, Any]:
        return service.export_customer(session, customer_id)

    def erase(self, session: Session, customer_id: int) -> dict[str, int]:
        return service.erase_customer(session, customer_id)


PERSONAL_DATA = MessagingPersonalData()
