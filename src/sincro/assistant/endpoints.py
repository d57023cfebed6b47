"""The assistant's API: ``POST /v1/assistant/parse`` (any key role) and the conversations
(channel and admin keys): start one, post a customer's message and get the bot's reply, read
the transcript, fetch an invoice copy the bot offered, read a document it linked.

A channel key sees only the conversations it started (another's, and those of the widget and
the messaging channels, are a 404 like a missing one): here and on the live endpoints
(:mod:`sincro.assistant.live_endpoints`), through :func:`visible`. An admin key sees every one.
A key may not start a conversation on the widget's channel or a messaging channel's name:
the channel adapter would take it for that person's thread."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from sincro.access.service import Principal
from sincro.assistant import conversations, service
from sincro.assistant.channels.config import configured
from sincro.assistant.models import OWNER_KEY, Conversation
from sincro.assistant.schemas import (
    ActionOut,
    ConversationCreated,
    ConversationIn,
    DocumentOut,
    MessageIn,
    MessageOut,
    ParseIn,
    ParseOut,
    ReplyOut,
    TranscriptOut,
)
from sincro.assistant.widget.public import CHANNEL as WIDGET_CHANNEL
from sincro.billing import service as billing
from sincro.catalog.documents import get_document
from sincro.config import Settings
from sincro.customers import lookup as customers
from sincro.deps import AppState, ChannelKey, CurrentKey, StateDep, row_id_path
from sincro.errors import InvalidInput, NotFound, error_responses

router = APIRouter(prefix="/v1/assistant", tags=["assistant"])
ConversationId = Annotated[int, row_id_path("Conversation id")]
ReceivableId = Annotated[int, row_id_path("Receivable id (from a send_invoice action)")]
DocumentId = Annotated[int, row_id_path("Document id (from a show_document action)")]


@router.post("/parse", summary="Understand a customer's message", response_model=ParseOut)
async def parse(body: ParseIn, state: StateDep, _key: CurrentKey) -> ParseOut:
    """The intent (one of 16 pt-BR intents), its calibrated confidence, whether it is below
    `SINCRO_ASSISTANT_CONFIDENCE_THRESHOLD` (ask the customer to clarify), and the entities
    found by exact rules (CPF/CNPJ, order and invoice numbers, e-mail, phone, CEP, city/UF from
    the location directory, products from the catalog) with offsets into `text`. The text may
    be up to `SINCRO_ASSISTANT_MAX_TEXT_CHARS` characters; control characters (NUL…) are
    refused. Any API key may call it (rate limited like every key)."""

    def work() -> ParseOut:
        with state.db.read() as session:
            return service.parse(session, body.text, state.settings)

    return await run_in_threadpool(work)


def visible(
    session: Session, conversation_id: int, key: Principal, *, for_update: bool = False
) -> Conversation:
    """The conversation if ``key`` may see it (its own, or any for an admin), else the same
    404 as for one that does not exist; ``for_update`` takes the row lock a turn then holds."""
    try:
        conversation = conversations.get(session, conversation_id, for_update=for_update)
    except NotFound:
        conversation = None
    if conversation is None or not (key.is_admin or conversation.owner_key_id == key.key_id):
        raise NotFound(f"conversation {conversation_id} not found", field="conversation_id")
    return conversation


def customer_turn(
    session: Session, settings: Settings, conversation_id: int, text: str, key: Principal
) -> conversations.Reply:
    """One customer message through the API: the key's visibility check takes the row lock
    the turn then holds (one read of the conversation)."""
    visible(session, conversation_id, key, for_update=True)
    return conversations.post_customer(session, settings, conversation_id, text)


@router.post(
    "/conversations",
    status_code=201,
    response_model=ConversationCreated,
    summary="Start a conversation with the assistant",
)
def start_conversation(body: ConversationIn, state: StateDep, key: ChannelKey) -> Any:
    """A new conversation in state `bot` and its token (shown once). `channel` may not be
    `web` (the widget's) nor a configured messaging channel's name (a 422 naming it).
    `customer_id` only when the channel has itself verified the customer (e.g. a signed-in
    app): a 422 naming it when no such customer exists. Without it, the bot asks for the CPF
    and a second factor before anything personal."""
    if body.channel == WIDGET_CHANNEL or body.channel in configured(state.settings):
        raise InvalidInput(
            f"channel {body.channel} is the widget's or a messaging channel's", field="channel"
        )

    def work(session: Session) -> ConversationCreated:
        customer_id = None
        if body.customer_id is not None:
            contact = customers.find_customer(session, customer_id=body.customer_id)
            if contact is None:
                raise InvalidInput(f"no customer {body.customer_id}", field="customer_id")
            customer_id = contact.customer_id
        conversation, token = conversations.start(
            session, channel=body.channel, external_ref=body.external_ref, customer_id=customer_id
        )
        conversation.flow = {OWNER_KEY: key.key_id}
        return ConversationCreated(id=conversation.id, token=token, state="bot")

    return state.run_write(work)


@router.post(
    "/conversations/{conversation_id}/messages",
    response_model=ReplyOut,
    summary="Send the customer's message; get the bot's reply",
    responses=error_responses(404, 409),
)
def post_message(
    conversation_id: ConversationId, body: MessageIn, state: StateDep, key: ChannelKey
) -> Any:
    """The message is stored with the reply in one transaction. `reply` is empty while a
    person has the conversation (state `waiting_agent` or `agent`). `actions` lists what the
    bot did or offers, each with its data: `handoff` {reason, position}, `show_stores`
    {city, product?, stores[{code, name, city, state, distance_km, quantity?}]},
    `show_document` {id, title, kind, version, sku, passage, url}, `send_invoice`
    {receivable_id, number, due_date, balance, digitable_line, pix_code, pdf_url, emailed},
    `ask_identity` {fields, reason}, `show_offers` {plans, promotions}, `show_debts`,
    `order_status` {orders}. 404 for an unknown conversation (or another key's), 409 for a
    closed one (start a new conversation); the text limit is
    `SINCRO_ASSISTANT_MAX_TEXT_CHARS`."""
    check_text(state.settings, body.text)
    return state.run_write(lambda session: message_turn(session, state, conversation_id, body, key))


def check_text(settings: Settings, text: str) -> None:
    """The deployment's text limit (422 naming ``text``); after the key's checks."""
    if len(text) > settings.assistant_max_text_chars:
        raise InvalidInput(
            f"text is longer than {settings.assistant_max_text_chars} characters", field="text"
        )


def message_turn(
    session: Session, state: AppState, conversation_id: int, body: MessageIn, key: Principal
) -> ReplyOut:
    """The route's work in its write transaction (also the fast route's:
    :mod:`sincro.assistant.fast`)."""
    reply = customer_turn(session, state.settings, conversation_id, body.text, key)
    return ReplyOut(
        reply=reply.reply,
        intent=reply.intent or "fora_do_escopo",
        confidence=reply.confidence or 0.0,
        state=reply.state,
        actions=[ActionOut(type=a.type, data=a.data) for a in reply.actions],
        seq=reply.seq,
    )


@router.get(
    "/conversations/{conversation_id}",
    response_model=TranscriptOut,
    summary="A conversation's transcript",
    responses=error_responses(404),
)
def get_conversation(conversation_id: ConversationId, state: StateDep, key: ChannelKey) -> Any:
    """Every message in order (customer, bot, agent, system) with the understood intent and
    the bot's actions. 404 for an unknown conversation (or another key's)."""
    with state.db.read() as session:
        conversation = visible(session, conversation_id, key)
        messages = conversations.transcript(session, conversation_id)
        return TranscriptOut(
            id=conversation.id,
            channel=conversation.channel,
            state=conversation.state,
            handoff_reason=conversation.handoff_reason,
            verified=conversation.customer_id is not None,
            created_at=conversation.created_at,
            last_message_at=conversation.last_message_at,
            messages=[
                MessageOut(
                    seq=m.seq,
                    sender=m.sender,
                    text=m.text,
                    intent=m.intent,
                    confidence=m.confidence,
                    actions=[ActionOut(**a) for a in (m.payload or {}).get("actions", [])],
                    created_at=m.created_at,
                )
                for m in messages
            ],
        )


@router.get(
    "/conversations/{conversation_id}/invoices/{receivable_id}.pdf",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}}, **error_responses(404)},
    summary="The invoice copy the bot offered",
)
def invoice_pdf(
    conversation_id: ConversationId, receivable_id: ReceivableId, state: StateDep, key: ChannelKey
) -> Response:
    """The PDF copy of an invoice of the conversation's VERIFIED customer (a 404 otherwise,
    the same as for an unknown invoice: nothing tells whether it exists)."""
    with state.db.read() as session:
        conversation = visible(session, conversation_id, key)
        found = None
        if conversation.customer_id is not None:
            try:
                found = billing.receivable(session, receivable_id)
            except NotFound:
                found = None
        if found is None or found.customer_id != conversation.customer_id:
            raise NotFound(f"invoice {receivable_id} not found", field="receivable_id")
        name, data = billing.invoice(session, receivable_id, state.settings)
    return Response(
        data,
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{name}"'},
    )


@router.get(
    "/documents/{document_id}",
    response_model=DocumentOut,
    summary="A product document the bot linked",
    responses=error_responses(404),
)
def document(document_id: DocumentId, state: StateDep, _key: CurrentKey) -> Any:
    """The full text of a datasheet, leaflet or manual (the version the link named)."""
    with state.db.read() as session:
        doc = get_document(session, document_id)
        if doc is None:
            raise NotFound(f"document {document_id} not found", field="document_id")
        return DocumentOut(
            id=doc.id,
            title=doc.title,
            kind=doc.kind,
            version=doc.version,
            sku=doc.sku,
            language=doc.language,
            effective_date=doc.effective_date,
            superseded=doc.superseded,
            body=doc.body,
        )
