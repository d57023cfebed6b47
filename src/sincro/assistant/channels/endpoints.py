"""``POST /v1/assistant/channels/{name}/inbound``: a messaging platform's webhook.

No API key: the request is signed with the channel's secret (see
:mod:`sincro.assistant.channels.webhook`); an unknown channel and a bad signature are the same
401, so channel names cannot be probed. Bodies are capped at
``SINCRO_ASSISTANT_CHANNEL_BODY_MAX_BYTES``."""

from __future__ import annotations

import hashlib
import time
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from sincro.assistant.channels import service
from sincro.assistant.channels.config import configured
from sincro.assistant.channels.webhook import BAD_SIGNATURE
from sincro.bodylimits import declare_public
from sincro.deps import StateDep
from sincro.errors import Unauthorized

INBOUND = "/v1/assistant/channels/{name}/inbound"
LOCK_SECONDS = 30.0
declare_public("POST", INBOUND)  # the cap: sincro.assistant.widget.runtime

router = APIRouter(tags=["assistant channels"])


class InboundOut(BaseModel):
    status: Literal["accepted", "duplicate"]
    conversation_id: int | None = None
    seq: int | None = Field(default=None, description="The customer's message's number")
    state: str | None = None


@router.post(
    INBOUND,
    summary="A messaging platform's inbound message (HMAC-signed webhook)",
    response_model=InboundOut,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "required": ["from", "text"],
                        "properties": {
                            "from": {"type": "string", "maxLength": 120},
                            "text": {"type": "string", "maxLength": 10000},
                            "message_id": {"type": "string", "maxLength": 200},
                        },
                    }
                }
            },
        },
        "parameters": [
            {"name": "X-Sincro-Timestamp", "in": "header", "schema": {"type": "string"}},
            {"name": "X-Sincro-Signature", "in": "header", "schema": {"type": "string"}},
        ],
    },
)
async def inbound(
    name: Annotated[str, Path(max_length=20, pattern=r"^[a-z][a-z0-9_-]{1,19}$")],
    request: Request,
    state: StateDep,
) -> InboundOut:
    """`{"from", "text", "message_id"?}` signed with `X-Sincro-Signature: v1=<hex
    HMAC-SHA256(secret, "<X-Sincro-Timestamp>." + body)>`. The customer's message is stored
    and answered by the assistant; the reply is POSTed to the channel's outbound URL (a
    background task, retried). A `message_id` already seen is answered `duplicate`."""
    settings = state.settings
    channel = configured(settings).get(name)
    body = await request.body()
    if channel is None:
        raise Unauthorized(BAD_SIGNATURE, field="X-Sincro-Signature")
    message = channel.adapter(settings).parse_inbound(body, request.headers, time.time())
    shared = state.shared
    dedupe = f"assistant-channel-message:{name}:{_digest(message.message_id or '')}"
    window = 2 * settings.assistant_channel_signature_tolerance_seconds
    held = await run_in_threadpool(shared.acquire, dedupe, window) if message.message_id else ""
    if held is None:
        return InboundOut(status="duplicate")
    person = f"assistant-channel:{name}:{_digest(message.external_ref)}"  # no phone in keys

    def work() -> InboundOut:
        # one thread per person: two first messages at once must not open two conversations
        with shared.lock(person, LOCK_SECONDS, 10):
            conversation_id, reply = state.run_write(
                lambda session: service.receive(session, settings, name, message)
            )
        return InboundOut(
            status="accepted", conversation_id=conversation_id, seq=reply.seq, state=reply.state
        )

    try:
        return await run_in_threadpool(work)
    except Exception:
        if held:  # not answered: let the platform's retry through
            await run_in_threadpool(shared.release, dedupe, held)
        raise


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:32]
