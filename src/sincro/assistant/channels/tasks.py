"""The channels' background jobs: one reply to its platform, retried with backoff; the beat's
sweep that queues again the replies whose delivery has no outcome (the broker was away when
they were written, or the retries ran out)."""

from __future__ import annotations

from sincro.tasks import task


class RetryDelivery(ConnectionError):
    """A transient failure (no answer, 408/429/5xx): ``sincro.tasks`` retries it."""


@task("sincro.assistant.deliver_reply", time_limit=60, max_retries=8)
def deliver_reply(conversation_id: int, seq: int) -> str:
    """Send message ``seq`` of ``conversation_id`` to its channel's outbound URL."""
    from sincro.assistant.channels.delivery import Outcome, deliver
    from sincro.config import get_settings
    from sincro.db import get_database

    outcome = deliver(get_database(), get_settings(), conversation_id, seq)
    if outcome == Outcome.retry:
        raise RetryDelivery(f"reply {conversation_id}/{seq} not delivered yet")
    return outcome.value


@task("sincro.assistant.redeliver_replies", time_limit=120)
def redeliver_replies() -> int:
    """Queue again the channel messages :func:`service.due` finds; how many."""
    from sincro.assistant.channels import service
    from sincro.config import get_settings
    from sincro.db import get_database, utcnow

    if not get_settings().assistant_channels:
        return 0
    with get_database().read() as session:
        pending = service.due(session, utcnow())
    service.requeue(pending)
    return len(pending)
