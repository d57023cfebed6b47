"""``LoopThread.run`` hands work over and answers back in batches: work handed over before the
thread's loop picked up earlier work rides the same wake-up, and the answers finished together
for one caller loop reach it in one call (each wake-up is a self-pipe write and a GIL hand-over:
one per reservation each way was ~130 µs of a storm's reservation)."""

from __future__ import annotations

import asyncio

import pytest

from sincro.loopthread import LoopThread


async def _nap(n: int) -> int:
    await asyncio.sleep(0.05)  # every work wakes in the same iteration of the thread's loop
    return n


def test_fifty_hand_offs_take_a_few_wake_ups_each_way(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = {"pick_up": 0, "deliver": 0}
    for name in calls:
        real = getattr(LoopThread, f"_{name}")

        def counted(self: LoopThread, *args: object, real: object = real, name: str = name) -> None:
            calls[name] += 1
            real(self, *args)  # type: ignore[operator]

        monkeypatch.setattr(LoopThread, f"_{name}", counted)
    runner = LoopThread("sincro-test-batches")

    async def caller() -> list[int]:
        return await asyncio.gather(*(runner.run(_nap, n) for n in range(50)))

    try:
        assert asyncio.run(caller()) == list(range(50))
    finally:
        assert runner.stop(5)
    # one per hand-off would be 50 each way; a busy machine may switch threads mid-burst
    assert 1 <= calls["pick_up"] <= 25 and 1 <= calls["deliver"] <= 25, calls
