"""Background jobs of the change feed (webhook delivery, retention)."""

from __future__ import annotations

from sincro.tasks import task


@task("sincro.feed.dispatch_webhooks", time_limit=60)
def dispatch_webhooks() -> int:
    """Deliver pending events to every webhook subscription, in order per subscriber."""
    from sincro.feed import webhooks

    return webhooks.dispatch_all()


@task("sincro.feed.prune", time_limit=600)
def prune() -> dict[str, int]:
    """Delete outbox events every cursor has passed and old delivery-log rows (retention)."""
    from sincro.config import get_settings
    from sincro.db import get_database
    from sincro.feed import retention

    done = retention.prune(get_database(), get_settings())
    return {"events": done.events, "deliveries": done.deliveries, "bound": done.bound}
