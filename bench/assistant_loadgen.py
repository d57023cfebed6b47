"""The assistant's load generator: many concurrent conversations, each sending a customer
message every ``interval`` seconds, over one HTTP client with a bounded connection pool (one
process, one event loop): :class:`bench.leanhttp.LeanClient` in the benchmark, which costs a
fraction of the server's CPU per request (httpx cost as much as the server); httpx's in-process
ASGI transport in the tests. Any client with ``await post(path, json=...)`` returning
``status_code`` and ``json()`` will do.

Open schedule: conversation ``i`` sends its ``k``-th message at ``start + offset_i + k *
interval`` (offsets spread evenly over one interval, so the total rate is ``conversations /
interval``). A customer waits for the reply before typing again: when a reply arrives after the
next message's time, that message goes at once and the delay is recorded (``late``), so a slow
server shows in both figures — the reply time of each message (send → reply) and the time from
when the customer meant to send it (schedule → reply; no coordinated omission).

Messages are the turns of the scripted conversations the bot should solve
(``assistant/data/conversations.tsv``, placeholders filled with the world's customer), played in
order and continued with the next script. A reply whose state is not ``bot`` (a handoff)
makes that customer start a new conversation for the next message, so every conversation stays
one the bot answers. Every accepted message is kept (conversation, seq, text, reply) for
:func:`verify` to check against ``assistant_messages``: each customer message stored, each
non-empty reply stored as the bot's next message.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import httpx

from bench import leanhttp
from sincro.assistant import scripted

# what a client raises when a request failed below HTTP
TRANSPORT_ERRORS = (httpx.HTTPError, leanhttp.HTTPError, OSError)


@dataclass
class Sent:
    conversation_id: int
    seq: int
    text: str
    reply: str
    state: str
    seconds: float  # send -> reply
    from_schedule: float  # intended send time -> reply
    late: float  # how long after its time the message went (previous reply still pending)


@dataclass
class Tally:
    """What the generator saw."""

    sent: list[Sent] = field(default_factory=list)
    attempts: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    created: list[float] = field(default_factory=list)  # seconds per conversation creation
    conversation_ids: set[int] = field(default_factory=set)
    restarts: int = 0  # new conversations after a handoff
    handoffs: dict[str, int] = field(default_factory=dict)

    def error(self, kind: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1


def message_source(values: dict[str, str]) -> Callable[[int], Iterable[str]]:
    """``source(i)``: the endless messages of customer ``i`` (bot-expected scripts in turn)."""
    scripts = [s for s in scripted.load() if s.expect == "bot"]

    def source(i: int) -> Iterable[str]:
        k = i
        while True:
            for turn in scripts[k % len(scripts)].turns:
                yield turn.format(**values)
            k += 7  # the next script for this customer (7 is prime to the script count)

    return source


class LoadGenerator:
    def __init__(
        self,
        client: Any,
        messages: Callable[[int], Iterable[str]],
        *,
        conversations: int,
        interval: float,
        duration: float,
        channel: str = "api",
    ) -> None:
        self.client = client
        self.messages = messages
        self.conversations = conversations
        self.interval = interval
        self.per_conversation = max(1, round(duration / interval))
        self.channel = channel
        self.tally = Tally()

    async def _create(self) -> int:
        started = time.perf_counter()
        response = await self.client.post(
            "/v1/assistant/conversations", json={"channel": self.channel}
        )
        if response.status_code != 201:
            self.tally.error(f"create {response.status_code}")
            raise RuntimeError(f"conversation not created: {response.status_code}")
        self.tally.created.append(time.perf_counter() - started)
        conversation_id = int(response.json()["id"])
        self.tally.conversation_ids.add(conversation_id)
        return conversation_id

    async def create_all(self, concurrency: int = 50) -> list[int]:
        """The conversations, created before the measured window (``concurrency`` at a time)."""
        gate = asyncio.Semaphore(concurrency)

        async def one() -> int:
            async with gate:
                return await self._create()

        return list(await asyncio.gather(*(one() for _ in range(self.conversations))))

    async def _customer(self, i: int, conversation_id: int, start: float) -> None:
        # times from perf_counter: uvloop's loop.time() is the iteration's cached millisecond
        texts = iter(self.messages(i))
        offset = self.interval * i / self.conversations
        for k in range(self.per_conversation):
            due = start + offset + k * self.interval
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            text = next(texts)
            sent_at = time.perf_counter()
            self.tally.attempts += 1
            try:
                response = await self.client.post(
                    f"/v1/assistant/conversations/{conversation_id}/messages", json={"text": text}
                )
            except TRANSPORT_ERRORS as exc:
                self.tally.error(type(exc).__name__)
                continue
            done = time.perf_counter()
            if response.status_code != 200:
                self.tally.error(f"message {response.status_code}")
                continue
            body = response.json()
            self.tally.sent.append(
                Sent(conversation_id, int(body["seq"]), text, body["reply"], body["state"],
                     done - sent_at, done - due, sent_at - due)
            )  # fmt: skip
            if body["state"] != "bot":
                reason = next(
                    (a["data"].get("reason") for a in body["actions"] if a["type"] == "handoff"),
                    body["state"],
                )
                self.tally.handoffs[str(reason)] = self.tally.handoffs.get(str(reason), 0) + 1
                try:
                    conversation_id = await self._create()
                except (RuntimeError, *TRANSPORT_ERRORS) as exc:
                    self.tally.error(f"restart {type(exc).__name__}")
                    return
                self.tally.restarts += 1

    async def run(self, conversation_ids: list[int]) -> Tally:
        """Every customer's messages; returns when the last reply is in."""
        start = time.perf_counter() + 0.2
        await asyncio.gather(
            *(self._customer(i, cid, start) for i, cid in enumerate(conversation_ids))
        )
        return self.tally


@dataclass
class Verdict:
    customer_rows: int  # customer messages stored in the run's conversations
    acknowledged: int  # messages answered 200
    missing_customer: int  # acknowledged, but not stored as sent
    missing_reply: int  # a non-empty reply not stored as the bot's next message
    unanswered_stored: int  # stored customer messages the generator got no 200 for

    @property
    def lost(self) -> int:
        return self.missing_customer + self.missing_reply


def verify(tally: Tally, rows: Iterable[tuple[Any, ...]]) -> Verdict:
    """Compare what the generator was told with ``(conversation_id, seq, sender, text)`` rows
    of ``assistant_messages`` for the run's conversations."""
    stored = {(int(c), int(s)): (sender, text) for c, s, sender, text in rows}
    missing_customer = missing_reply = 0
    acked = set()
    for m in tally.sent:
        acked.add((m.conversation_id, m.seq))
        if stored.get((m.conversation_id, m.seq)) != ("customer", m.text):
            missing_customer += 1
        if m.reply and stored.get((m.conversation_id, m.seq + 1)) != ("bot", m.reply):
            missing_reply += 1
    customers = {k for k, (sender, _) in stored.items() if sender == "customer"}
    return Verdict(
        customer_rows=len(customers),
        acknowledged=len(tally.sent),
        missing_customer=missing_customer,
        missing_reply=missing_reply,
        unanswered_stored=len(customers - acked),
    )
