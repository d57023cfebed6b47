"""Background jobs of the change feed (webhook delivery)."""

from __future__ import annotations

from sincro.tasks import task


@task("sincro.feed.dispatch_webhooks", time_limit=60)
def dispatch_webhooks() -> int:
    """Deliver pending events to every webhook subscription, in order per subscriber."""
    from sincro.feed import webhooks

    return webhooks.dispatch_all()
