"""Automation's background job: interactions into interests, rules into offers, conversions."""

from __future__ import annotations

import logging

from sincro.automation import service
from sincro.config import get_settings
from sincro.db import get_database
from sincro.tasks import task

log = logging.getLogger("sincro.automation")


@task("sincro.automation.run", time_limit=300)
def run() -> int:
    """One run (see :func:`sincro.automation.service.run_once`); how many offers were made."""
    out = service.run_once(get_database(), get_settings())
    if out.offers or out.interests or out.conversions:
        log.info(
            "automation run",
            extra={
                "interests": out.interests,
                "offers": out.offers,
                "conversions": out.conversions,
            },
        )
    return out.offers
