"""What a conversation tells marketing: the topic ``assistant.interaction``.

The assistant publishes one event per understood customer turn of an identified customer (in
the turn's transaction, through the outbox); marketing automation (its own domain) reads them
with a durable reader and turns them into interests. Neither imports the other's internals:
this payload is the contract."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel

from sincro.events import register_topic

INTERACTION = "assistant.interaction"


class Interaction(BaseModel):
    """One understood turn: who (``customer_id``, identified customers only), what they asked
    (``intent`` with ``confidence``), about what (``skus`` from the catalog, ``plan`` code,
    ``category``), where (``city``/``state``) and when (``at``, UTC)."""

    conversation_id: int
    customer_id: int
    intent: str
    confidence: float
    skus: list[str] = []
    plan: str | None = None
    category: str | None = None
    city: str | None = None
    state: str | None = None
    at: dt.datetime


register_topic(INTERACTION, Interaction)
