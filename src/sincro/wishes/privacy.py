"""LGPD for the wish list: a customer's wishes in the export, deleted on erasure."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from sincro.wishes import service


class WishesPersonalData:
    def export(self, session: Session, customer_id: int) -> dict[str, Any]:
        return {"wishes": service.export_customer(session, customer_id)}

    def erase(self, session: Session, customer_id: int) -> dict[str, int]:
        return {"wishes": service.erase_customer(session, customer_id)}


PERSONAL_DATA = WishesPersonalData()
