"""What every answer family works with: the :class:`Turn` (the message, its parse, the
conversation's flow) and the :class:`Answer` it produces."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from sincro.assistant.conversations import Action
from sincro.assistant.models import Conversation
from sincro.assistant.schemas import EntityOut, ParseOut
from sincro.config import Settings
from sincro.text_pt import fold

WORD = re.compile(r"[a-z0-9]+")

#: Kinds of bot reply (kept in the message payload): ``answer`` (the need was met from data),
#: ``ask`` (a slot or the identity is asked), ``clarify`` (not understood), ``handoff``,
#: ``farewell``, ``refuse`` (the bot will not, e.g. before verification).
KINDS = ("answer", "ask", "clarify", "handoff", "farewell", "refuse")


@dataclass
class Turn:
    session: Session
    settings: Settings
    conversation: Conversation
    text: str
    parsed: ParseOut
    flow: dict[str, Any]  # a copy of conversation.flow, written back after the turn

    @property
    def folded(self) -> str:
        return fold(self.text)

    @property
    def words(self) -> list[str]:
        """The folded words of the text, punctuation dropped."""
        return WORD.findall(fold(self.text))

    @property
    def intent(self) -> str:
        return self.parsed.intent

    @property
    def confident(self) -> bool:
        return not self.parsed.clarify

    def entities(self, kind: str) -> list[EntityOut]:
        return [e for e in self.parsed.entities if e.type == kind]

    def entity(self, kind: str, *, valid_only: bool = True) -> EntityOut | None:
        for e in self.entities(kind):
            if e.valid or not valid_only:
                return e
        return None

    def awaiting(self) -> dict[str, Any] | None:
        found = self.flow.get("awaiting")
        return found if isinstance(found, dict) else None

    def ask_for(self, slot: str, intent: str) -> None:
        self.flow["awaiting"] = {"slot": slot, "intent": intent}

    def done_waiting(self) -> None:
        self.flow.pop("awaiting", None)


@dataclass
class Answer:
    reply: str
    actions: list[Action] = field(default_factory=list)
    kind: str = "answer"
    handoff: str | None = None  # a queue.HANDOFF_REASONS reason: hand the customer to a person
    # what the turn was about, for marketing (assistant.interaction)
    skus: list[str] = field(default_factory=list)
    plan: str | None = None
    category: str | None = None

    @classmethod
    def ask(cls, reply: str, *actions: Action) -> Answer:
        return cls(reply, list(actions), kind="ask")

    @classmethod
    def hand_off(cls, reason: str) -> Answer:
        return cls("", kind="handoff", handoff=reason)
