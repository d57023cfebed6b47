"""The one loop of every live stream (:func:`sincro.assistant.live.stream`), without an app:
keep-alives when idle, a read after each wake-up (not only at the safety-net poll), the end on
a client's disconnect or a gone conversation, and the long poll's first answer or deadline."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from sincro.assistant import live


class FakeRequest:
    def __init__(self) -> None:
        self.disconnected = False

    async def is_disconnected(self) -> bool:
        return self.disconnected


def run(body: Callable[[live.Waker, FakeRequest], Awaitable[Any]]) -> Any:
    async def main() -> Any:
        waker = live.Waker()
        waker.attach(asyncio.get_running_loop())
        return await asyncio.wait_for(body(waker, FakeRequest()), 10)

    return asyncio.run(main())


def counting(chunk: bytes = b"") -> tuple[list[float], Callable[[], list[bytes]]]:
    """A step that records when it ran and sends ``chunk`` (nothing when empty)."""
    calls: list[float] = []

    def step() -> list[bytes]:
        calls.append(time.monotonic())
        return [chunk + str(len(calls)).encode()] if chunk else []

    return calls, step


def test_an_idle_stream_sends_keep_alives_until_the_client_leaves(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(live, "HEARTBEAT_SECONDS", 0.2)

    async def body(waker: live.Waker, request: FakeRequest) -> tuple[list[bytes], int]:
        calls, step = counting()
        sent: list[bytes] = []
        stream = live.stream(request, waker, (7,), 0.05, step)
        async for chunk in stream:
            sent.append(chunk)
            if sent.count(live.KEEP_ALIVE) == 2:
                request.disconnected = True
        return sent, len(calls)

    sent, reads = run(body)
    assert sent == [live.CONNECTED, live.KEEP_ALIVE, live.KEEP_ALIVE]
    # the safety-net poll re-read meanwhile: 8 reads at 0.05 s on an idle machine, never
    # fewer than 5 under load; without it there would be one read per keep-alive (3)
    assert reads >= 5


def test_wake_ups_without_news_do_not_silence_the_keep_alives(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(live, "HEARTBEAT_SECONDS", 0.2)

    async def body(waker: live.Waker, request: FakeRequest) -> int:
        calls, step = counting()
        stream = live.stream(request, waker, (live.QUEUE,), 30.0, step)
        busy = asyncio.get_running_loop()

        def other_conversations_change() -> None:
            waker.wake([9])
            busy.call_later(0.02, other_conversations_change)

        other_conversations_change()
        async for chunk in stream:
            if chunk == live.KEEP_ALIVE:
                break
        await stream.aclose()
        return len(calls)

    assert run(body) >= 5  # read at each wake-up, and still kept alive


def test_a_wake_up_runs_the_step_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    async def body(waker: live.Waker, request: FakeRequest) -> tuple[list[bytes], float]:
        calls, step = counting(b"round ")
        sent: list[bytes] = []
        stream = live.stream(request, waker, (7,), 30.0, step)
        async for chunk in stream:
            sent.append(chunk)
            if len(sent) == 2:  # connected, round 1: now a change of another conversation,
                await asyncio.sleep(0.1)
                waker.wake([8])  # which does not concern this stream, then of this one
                await asyncio.sleep(0.1)
                woken_at = time.monotonic()
                waker.wake([7])
            if len(sent) == 3:
                request.disconnected = True
                break
        await stream.aclose()
        return sent, calls[-1] - woken_at

    sent, delay = run(body)
    assert sent == [live.CONNECTED, b"round 1", b"round 2"]  # woken once, by its own key
    assert delay < 1  # not the 30 s safety net


def test_the_queue_key_wakes_only_when_the_queue_moved() -> None:
    async def body(waker: live.Waker, request: FakeRequest) -> list[bool]:
        woken = []
        for moved in (False, True):
            waiter = waker.waiter(live.WAITING)
            waker.wake([3], queue_moved=moved)
            woken.append(await waker.wait(waiter, 0.05))
        return woken

    assert run(body) == [False, True]


def test_the_stream_ends_on_disconnect_and_when_its_conversation_is_gone() -> None:
    async def body(waker: live.Waker, request: FakeRequest) -> tuple[list[bytes], list[bytes]]:
        request.disconnected = True
        _, step = counting()
        left = [c async for c in live.stream(request, waker, (7,), 0.05, step)]
        request.disconnected = False
        gone = [c async for c in live.stream(request, waker, (7,), 30.0, lambda: None)]
        return left, gone

    left, gone = run(body)
    assert left == [live.CONNECTED]
    assert gone == [live.CONNECTED, live.sse("state", {"state": "gone"})]


def test_a_long_poll_answers_its_first_news_or_at_its_deadline() -> None:
    async def body(waker: live.Waker, request: FakeRequest) -> tuple[list[bytes], list[bytes]]:
        calls: list[float] = []

        def news() -> list[bytes]:
            calls.append(time.monotonic())
            return [b"news"] if len(calls) == 2 else []

        until = time.monotonic() + 5
        asyncio.get_running_loop().call_later(0.1, waker.wake, [7])
        first = [c async for c in live.stream(request, waker, (7,), 30.0, news, until=until)]
        deadline = time.monotonic() + 0.2

        def nothing() -> list[bytes]:
            return [b"empty"] if time.monotonic() >= deadline else []

        late = [c async for c in live.stream(request, waker, (7,), 30.0, nothing, until=deadline)]
        return first, late

    first, late = run(body)
    assert first == [b"news"] and late == [b"empty"]  # no preamble, no keep-alive
