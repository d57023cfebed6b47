"""An event loop of its own, in a thread of its own, for I/O that must not queue behind the
api's traffic.

An api process serves every open connection on one event loop. Under a few thousand busy
connections an iteration of that loop takes hundreds of milliseconds, and work that advances
one step per iteration — a pooled async statement: send, wait, read — crawls: a pool of a
few connections then drains at tens of statements a second, and requests wait for a free
connection until they time out. On a :class:`LoopThread` the same work advances as soon as
its socket is ready; the caller's loop only sees the finished result (one wake-up, posted
through ``call_soon_threadsafe``).

- :meth:`LoopThread.run` awaits ``work(*args)`` run on the thread's loop, from another loop;
  its result or exception is the caller's, and cancelling the caller cancels the work.
- :meth:`LoopThread.stop` ends the loop: work still running is cancelled, its callers and
  later ones get :class:`LoopStopped`, and the thread ends.

Whatever belongs to the loop (async connections, asyncio primitives) is made and closed by
work run on it; ``AppState.on_loop``/``close_loop`` keep one per name and app.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")
log = logging.getLogger("sincro.loopthread")


class LoopStopped(RuntimeError):
    """Work was handed to a loop that was stopped (the app is shutting down)."""


class LoopThread:
    """An asyncio event loop running in a daemon thread named ``name`` (started at once)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.loop = asyncio.new_event_loop()
        self._lock = threading.Lock()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    @property
    def thread(self) -> threading.Thread:
        return self._thread

    async def run(self, work: Callable[..., Awaitable[T]], *args: Any) -> T:
        """``await work(*args)`` on this loop, from the caller's loop."""
        coro = _coroutine(work, *args)
        with self._lock:  # no work is handed over once stop() began
            if self._stopping:
                coro.close()
                raise LoopStopped(f"the event loop {self.name} was stopped")
            future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return await asyncio.wrap_future(future)
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if future.cancelled() and self._stopping and not (task and task.cancelling()):
                # cancelled by stop(), not by our caller: say so
                raise LoopStopped(f"the event loop {self.name} stopped during the work") from None
            raise

    def stop(self, timeout: float) -> bool:
        """Stop the loop (work still running is cancelled) and wait up to ``timeout`` s for
        the thread to end; True when it did."""
        with self._lock:
            if not self._stopping:
                self._stopping = True
                self.loop.call_soon_threadsafe(self.loop.stop)
        if self._thread is not threading.current_thread():
            self._thread.join(timeout)
        return not self._thread.is_alive()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_forever()
        finally:
            try:
                self._cancel_leftovers()
                self.loop.run_until_complete(self.loop.shutdown_asyncgens())
            except Exception:  # the loop ends anyway
                log.warning("ending the event loop %s failed", self.name, exc_info=True)
            finally:
                self.loop.close()

    def _cancel_leftovers(self) -> None:
        # work handed over just before stop() may not have started: one more pass makes its
        # task, then every task left is cancelled and unwound (its caller sees the cancel)
        self.loop.run_until_complete(asyncio.sleep(0))
        tasks = asyncio.all_tasks(self.loop)
        for task in tasks:
            task.cancel()
        if tasks:
            self.loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))


def _coroutine(work: Callable[..., Awaitable[T]], *args: Any) -> Coroutine[Any, Any, T]:
    async def call() -> T:
        return await work(*args)

    return call()
