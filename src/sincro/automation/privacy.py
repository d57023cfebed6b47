"""LGPD for automation: a customer's interests (what they asked about: personal data) and the
offers made to them in the export; interests erased with the customer."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from sincro.automation import service


class AutomationPersonalData:
    def export(self, session: Session, customer_id: int) -> dict[str, Any]:
        return service.export_customer(session, customer_id)

    def erase(self, session: Session, customer_id: int) -> dict[str, int]:
        return service.erase_customer(session, customer_id)


PERSONAL_DATA = AutomationPersonalData()
