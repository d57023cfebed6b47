"""Sending one message to its channel through :mod:`sincro.safe_http` (the client webhooks
use: checked, pinned, no redirects, bounded). An accepted delivery is recorded on the message
(:func:`~sincro.assistant.channels.service.mark_delivered`), so a task run again after that
(a redelivery, a second queueing) sends nothing. Still at least once in the narrow cases — the
platform's answer lost, or two runs at the same instant — so platforms dedupe on
``(conversation_id, seq)``."""

from __future__ import annotations

import logging
import time
from enum import StrEnum

from sincro import __version__, safe_http
from sincro.assistant.channels import service
from sincro.assistant.channels.config import configured
from sincro.config import Settings
from sincro.db import Database
from sincro.errors import InvalidInput
from sincro.feed import service as feed

log = logging.getLogger("sincro.assistant.channels")


class Outcome(StrEnum):
    sent = "sent"
    retry = "retry"  # no answer, 408, 429 or 5xx: the task tries again with backoff
    failed = "failed"  # another 4xx: the platform refused it; retrying will not help
    dropped = "dropped"  # nothing to send (unknown channel, message gone)


def deliver(
    db: Database,
    settings: Settings,
    conversation_id: int,
    seq: int,
    client: safe_http.SafeClient | None = None,
) -> Outcome:
    with db.read() as session:
        found = service.outbound_message(session, conversation_id, seq)
    if found is None:
        return Outcome.dropped
    try:
        channel = configured(settings).get(found[0])
    except InvalidInput as exc:  # e.g. a URL the policy refuses: no retry will fix it
        log.error("channel configuration refused: %s: %s", exc.field, exc.message)
        return _gave_up(db, conversation_id, seq, Outcome.failed)
    if channel is None:  # no longer configured
        return _gave_up(db, conversation_id, seq, Outcome.dropped)
    _, external_ref, message = found
    request = channel.adapter(settings).outbound(external_ref, message, time.time())
    own = client is None
    client = client or safe_http.SafeClient(
        feed.webhook_policy(settings), user_agent=f"Sincro/{__version__} assistant"
    )
    try:
        answer = client.post(channel.outbound_url, request.body, request.headers)
    except safe_http.DeliveryFailed:
        return Outcome.retry
    finally:
        if own:
            client.close()
    if answer.status < 300:
        with db.write() as session:
            service.mark_delivered(session, conversation_id, seq)
        return Outcome.sent
    log.warning(
        "channel %s refused a reply: HTTP %s: %s", channel.name, answer.status, answer.summary
    )
    if answer.status in (408, 429) or answer.status >= 500:
        return Outcome.retry
    return _gave_up(db, conversation_id, seq, Outcome.failed)


def _gave_up(db: Database, conversation_id: int, seq: int, outcome: Outcome) -> Outcome:
    with db.write() as session:
        service.mark_delivered(session, conversation_id, seq, ok=False)
    return outcome
