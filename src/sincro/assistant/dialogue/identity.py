"""Who the customer is, before anything personal is said: a valid CPF, then a second factor
(the birth date or the number of one of their invoices).

Nothing is disclosed before both match: an unknown CPF gets the same "and your birth date?"
as a known one, and a wrong factor the same "could not confirm" whether the CPF exists or not.
Failed checks are counted per CPF (keyed by an HMAC of its digits, never the CPF itself) in the
deployment's shared state (:mod:`sincro.sharedstate`): after
``SINCRO_ASSISTANT_IDENTITY_MAX_TRIES`` within ``SINCRO_ASSISTANT_IDENTITY_WINDOW_SECONDS`` the
bot refuses to check that CPF again (in any conversation) and hands the customer to a person.

The counter lives in Redis when ``SINCRO_REDIS_URL`` is set, else in the database's shared
counters. On SQLite the counter statement runs on the turn's own connection: SQLite has one
writer, and the turn already holds it, so a second connection would wait on itself."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.orm import Session

from sincro.assistant.conversations import Action
from sincro.assistant.dialogue.turn import Answer, Turn
from sincro.config import Settings
from sincro.customers import identity as customers
from sincro.sharedstate import (
    DatabaseSharedState,
    SharedState,
    _statements,
    process_shared_state,
)
from sincro.text_pt import only_digits

DATE_RE = re.compile(r"(?<!\d)(\d{1,2})\s*[/.-]\s*(\d{1,2})\s*[/.-]\s*(\d{2}|\d{4})(?!\d)")
BARE_NUMBER_RE = re.compile(r"(?<![\d/.-])\d{3,12}(?![\d/.-])")
#: "fatura 12", "boleto nº 0042": a short invoice number after the word (the entity rule
#: wants four digits or more; a customer copying an invoice number may type fewer)
NAMED_NUMBER_RE = re.compile(r"\b(?:fatura|boleto|conta)\D{0,6}?(\d{1,12})(?![\d/.-])", re.I)
CHECKED = "checked"  # in the flow once the customer passed this check in the conversation
ASK_CPF = "Para sua segurança, preciso confirmar quem é você. Qual é o seu CPF?"
ASK_FACTOR = (
    "Obrigado! Agora me diga sua data de nascimento (dd/mm/aaaa) ou o número de uma fatura sua."
)


class _InTransaction(DatabaseSharedState):
    """The database's shared counters, written on the caller's connection (SQLite only)."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.postgres = False
        self.sql = _sqlite_statements()  # built once: each build costs milliseconds
        self._next_purge = float("inf")  # the process's own shared state purges

    @contextmanager
    def _connection(self) -> Iterator[Connection]:
        yield self.session.connection()


@cache
def _sqlite_statements() -> Any:
    return _statements(False)


def _shared(session: Session, settings: Settings) -> SharedState:
    if not settings.redis_url and settings.is_sqlite:
        return _InTransaction(session)
    return process_shared_state(settings)


def cpf_key(settings: Settings, digits: str) -> str:
    mac = hmac.new(settings.secret_key.encode(), f"cpf:{digits}".encode(), hashlib.sha256)
    return "assistant:identity:" + mac.hexdigest()[:32]


def _tries(turn: Turn, key: str, failed: bool) -> int:
    window = turn.settings.assistant_identity_window_seconds
    return _shared(turn.session, turn.settings).add(key, 1 if failed else 0, window)


def verified(turn: Turn) -> bool:
    return turn.conversation.customer_id is not None


def checked_here(turn: Turn) -> bool:
    """Verified by this check (CPF and second factor), not only vouched for by the channel
    that started the conversation with a ``customer_id``: what LGPD requests need."""
    return verified(turn) and turn.flow.get(CHECKED) is True


def require(turn: Turn, intent: str) -> Answer:
    """Start (or continue) the check for ``intent``; it runs once the customer is verified."""
    turn.flow["after"] = intent
    cpf = turn.entity("cpf", valid_only=False)
    if cpf is not None:
        return take_cpf(turn)
    turn.ask_for("cpf", intent)
    return Answer.ask(ASK_CPF, Action("ask_identity", {"fields": ["cpf"], "reason": intent}))


def take_cpf(turn: Turn) -> Answer:
    cpf = turn.entity("cpf", valid_only=False)
    after = str(turn.flow.get("after") or "consultar_debito")
    if cpf is None or not cpf.valid:
        turn.ask_for("cpf", after)
        return Answer.ask(
            "Esse CPF não parece válido. Pode conferir e mandar de novo?",
            Action("ask_identity", {"fields": ["cpf"], "reason": after}),
        )
    digits = only_digits(cpf.normalized)
    key = cpf_key(turn.settings, digits)
    if _tries(turn, key, failed=False) >= turn.settings.assistant_identity_max_tries:
        return _refuse(turn)
    turn.flow["identity"] = {
        "key": key,
        "candidate": customers.primary_id_by_document(turn.session, digits),
    }
    turn.ask_for("factor", after)
    return Answer.ask(
        ASK_FACTOR,
        Action("ask_identity", {"fields": ["birth_date", "invoice"], "reason": after}),
    )


def _refuse(turn: Turn) -> Answer:
    turn.flow.pop("identity", None)
    turn.done_waiting()
    answer = Answer.hand_off("cannot_do")
    answer.reply = (
        "Por segurança, não consigo mais confirmar esse CPF por aqui agora. "
        "Vou te passar para uma pessoa da nossa equipe."
    )
    return answer


def birth_date_in(text: str) -> dt.date | None:
    found = DATE_RE.search(text)
    if found is None:
        return None
    day, month, year = (int(g) for g in found.groups())
    if year < 100:
        year += 1900 if year > dt.date.today().year % 100 else 2000
    try:
        return dt.date(year, month, day)
    except ValueError:
        return None


def invoice_in(turn: Turn) -> str | None:
    """An invoice number given as the second factor, if the message holds one."""
    named = turn.entity("invoice")
    if named is not None:
        return named.normalized
    text = DATE_RE.sub(" ", turn.text)
    short = NAMED_NUMBER_RE.search(text)
    if short is not None:
        return short.group(1)
    bare = BARE_NUMBER_RE.search(text)
    return bare.group() if bare else None


def take_factor(turn: Turn) -> Answer | None:
    """Check the second factor; None when verified (the caller answers the pending intent)."""
    state = turn.flow.get("identity")
    after = str(turn.flow.get("after") or "consultar_debito")
    if not isinstance(state, dict):
        return require(turn, after)
    born, invoice = birth_date_in(turn.text), invoice_in(turn)
    if born is None and invoice is None:
        return Answer.ask(
            "Preciso da sua data de nascimento (dd/mm/aaaa) ou do número de uma fatura sua.",
            Action("ask_identity", {"fields": ["birth_date", "invoice"], "reason": after}),
        )
    candidate = state.get("candidate")
    ok = isinstance(candidate, int) and customers.second_factor_matches(
        turn.session, candidate, birth_date=born, invoice=invoice
    )
    if ok:
        turn.conversation.customer_id = int(candidate)  # type: ignore[arg-type]
        turn.flow[CHECKED] = True
        turn.flow.pop("identity", None)
        turn.done_waiting()
        return None
    tries = _tries(turn, str(state["key"]), failed=True)
    if tries >= turn.settings.assistant_identity_max_tries:
        return _refuse(turn)
    return Answer.ask(
        "Não consegui confirmar esses dados. Confira a data de nascimento ou o número da "
        "fatura e tente de novo.",
        Action("ask_identity", {"fields": ["birth_date", "invoice"], "reason": after}),
    )
