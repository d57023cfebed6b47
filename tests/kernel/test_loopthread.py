"""``sincro.loopthread.LoopThread`` and ``AppState.on_loop``/``close_loop``: work runs on the
thread's own loop, its result and errors come back to the caller's, stop ends the thread and
answers what was still running, and an app makes a new loop after a stop."""

from __future__ import annotations

import asyncio
import threading
from types import SimpleNamespace
from typing import Any

import pytest

from sincro.deps import AppState
from sincro.loopthread import LoopStopped, LoopThread


class Boom(Exception):
    pass


async def _where() -> tuple[str, asyncio.AbstractEventLoop]:
    await asyncio.sleep(0)
    return threading.current_thread().name, asyncio.get_running_loop()


async def _fail(message: str) -> None:
    await asyncio.sleep(0)
    raise Boom(message)


def test_work_runs_on_the_threads_loop_and_answers_the_caller() -> None:
    runner = LoopThread("sincro-test-loop")

    async def caller() -> None:
        name, loop = await runner.run(_where)
        assert name == "sincro-test-loop" and loop is runner.loop
        assert loop is not asyncio.get_running_loop()
        with pytest.raises(Boom, match="no stock"):
            await runner.run(_fail, "no stock")
        # many at once: each answer goes to its own caller
        got = await asyncio.gather(*(runner.run(_echo, n) for n in range(50)))
        assert got == list(range(50))

    try:
        asyncio.run(caller())
    finally:
        assert runner.stop(5)


async def _echo(n: int) -> int:
    await asyncio.sleep(0.001 * (n % 3))
    return n


def test_the_thread_runs_uvloop_and_a_psycopg_connection_works_on_it(postgres_url: str) -> None:
    """uvloop's loop, as the api's own (asyncio's pure-Python loop cost a reservation ~10 %
    of its api CPU), and async psycopg (the reservation pool's driver) runs on it."""
    import psycopg
    import uvloop

    runner = LoopThread("sincro-test-uvloop")

    async def query() -> int:
        async with await psycopg.AsyncConnection.connect(postgres_url) as conn:
            row = await (await conn.execute("SELECT 41 + 1")).fetchone()
            assert row is not None
            return int(row[0])

    async def caller() -> int:
        return await runner.run(query)

    try:
        assert isinstance(runner.loop, uvloop.Loop)
        assert asyncio.run(caller()) == 42
    finally:
        assert runner.stop(5)


def test_stop_ends_the_thread_and_answers_work_still_running() -> None:
    runner = LoopThread("sincro-test-stop")
    started = threading.Event()
    unwound = threading.Event()

    async def forever() -> None:
        started.set()
        try:
            await asyncio.Event().wait()
        finally:
            unwound.set()

    async def caller() -> None:
        pending = asyncio.ensure_future(runner.run(forever))
        await asyncio.get_running_loop().run_in_executor(None, started.wait, 5)
        assert await asyncio.get_running_loop().run_in_executor(None, runner.stop, 5)
        with pytest.raises(LoopStopped):
            await pending
        with pytest.raises(LoopStopped):
            await runner.run(_where)

    asyncio.run(caller())
    assert unwound.is_set() and not runner.thread.is_alive() and runner.loop.is_closed()
    assert runner.stop(1)  # twice is fine


def test_cancelling_the_caller_cancels_the_work() -> None:
    runner = LoopThread("sincro-test-cancel")
    started, cancelled = threading.Event(), threading.Event()

    async def slow() -> None:
        started.set()
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    async def caller() -> None:
        task = asyncio.ensure_future(runner.run(slow))
        await asyncio.get_running_loop().run_in_executor(None, started.wait, 5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.get_running_loop().run_in_executor(None, cancelled.wait, 5)

    try:
        asyncio.run(caller())
        assert cancelled.is_set()
    finally:
        runner.stop(5)


def test_app_state_closes_its_loop_at_stop_and_makes_a_new_one_after() -> None:
    state: Any = AppState(settings=None, db=None, shared=None, limiter=None)  # type: ignore[arg-type]
    held: dict[str, Any] = {}

    async def open_thing() -> tuple[str, asyncio.AbstractEventLoop]:
        held["thing"] = SimpleNamespace(loop=asyncio.get_running_loop(), closed=False)
        return await _where()

    async def close_thing() -> None:
        assert held["thing"].loop is asyncio.get_running_loop()  # closed on its own loop
        held["thing"].closed = True

    async def lifetime() -> tuple[str, asyncio.AbstractEventLoop]:
        name, loop = await state.on_loop("test.loop", open_thing)
        runner = state.services["test.loop"]
        assert await state.close_loop("test.loop", close_thing)
        assert held["thing"].closed and "test.loop" not in state.services
        assert not runner.thread.is_alive()
        return name, loop

    first = asyncio.run(lifetime())
    second = asyncio.run(lifetime())  # a restarted app (a test client entered again)
    assert first[0] == second[0] == "sincro-test.loop" and first[1] is not second[1]
    assert asyncio.run(state.close_loop("never.made"))


def test_close_loop_ends_the_thread_when_the_last_work_fails() -> None:
    state: Any = AppState(settings=None, db=None, shared=None, limiter=None)  # type: ignore[arg-type]

    async def lifetime() -> bool:
        await state.on_loop("test.failing", _where)
        runner = state.services["test.failing"]
        done = await state.close_loop("test.failing", lambda: _fail("closing"))
        assert not runner.thread.is_alive()
        return bool(done)

    assert asyncio.run(lifetime()) is False
