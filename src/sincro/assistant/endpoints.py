"""The assistant's API: ``POST /v1/assistant/parse`` (any API key role)."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from sincro.assistant import service
from sincro.assistant.schemas import ParseIn, ParseOut
from sincro.deps import CurrentKey, StateDep

router = APIRouter(prefix="/v1/assistant", tags=["assistant"])


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
