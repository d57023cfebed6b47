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
- Hand-offs are batched both ways: work handed over while the thread's loop has not yet
  picked up earlier work rides on the same wake-up, and the answers finished for one caller
  loop reach it in ONE call (``call_soon_threadsafe`` writes to the loop's self-pipe, and
  each wake-up moves the GIL: under a storm, one per reservation each way was ~130 µs of a
  reservation's CPU). No ``concurrent.futures`` future (and its condition) per hand-off.
- The loop is uvloop's when uvloop is installed (the loop uvicorn serves the api on), else
  asyncio's: asyncio's own loop is pure Python, and under a storm its iterations, handles and
  self-pipe reads were a good part of the thread's CPU for each statement it carried.
- :meth:`LoopThread.stop` ends the loop: work still running is cancelled, its callers and
  later ones get :class:`LoopStopped`, and the thread ends.

Whatever belongs to the loop (async connections, asyncio primitives) is made and closed by
work run on it; ``AppState.on_loop``/``close_loop`` keep one per name and app.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import threading
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")
log = logging.getLogger("sincro.loopthread")


class LoopStopped(RuntimeError):
    """Work was handed to a loop that was stopped (the app is shutting down)."""


@dataclass(slots=True, eq=False)
class _Work:
    """Work handed over: its coroutine, and the caller's loop and future it answers."""

    coro: Coroutine[Any, Any, Any]
    caller: asyncio.AbstractEventLoop
    future: asyncio.Future[Any]  # the caller's
    task: asyncio.Task[Any] | None = None  # on the thread's loop, once picked up
    dropped: bool = False  # the caller was cancelled before the work was picked up


# how a work ended, as handed back: ("ok", result), ("error", exception), ("cancelled", None)
_Ended = tuple[str, Any]


class LoopThread:
    """An asyncio event loop running in a daemon thread named ``name`` (started at once)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.loop = new_event_loop()
        self._lock = threading.Lock()
        self._stopping = False
        self._inbox: list[_Work] = []  # handed over, not picked up yet
        self._woken = False  # a pick-up is scheduled on the thread's loop
        self._outboxes: dict[asyncio.AbstractEventLoop, list[tuple[_Work, _Ended]]] = {}
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    @property
    def thread(self) -> threading.Thread:
        return self._thread

    async def run(self, work: Callable[..., Awaitable[T]], *args: Any) -> T:
        """``await work(*args)`` on this loop, from the caller's loop."""
        caller = asyncio.get_running_loop()
        item = _Work(_coroutine(work, *args), caller, caller.create_future())
        with self._lock:  # no work is handed over once stop() began
            if self._stopping:
                item.coro.close()
                raise LoopStopped(f"the event loop {self.name} was stopped")
            self._inbox.append(item)
            wake, self._woken = not self._woken, True
        if wake:
            with contextlib.suppress(RuntimeError):  # closed: _run's end answers the inbox
                self.loop.call_soon_threadsafe(self._pick_up)
        try:
            result: T = await item.future
            return result
        except asyncio.CancelledError:
            if item.future.cancelled():  # our caller was cancelled: so is the work
                with contextlib.suppress(RuntimeError):  # closed: the work ended with it
                    self.loop.call_soon_threadsafe(self._cancel, item)
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

    # --- on the thread's loop -----------------------------------------------------------

    def _pick_up(self) -> None:
        with self._lock:
            items, self._inbox, self._woken = self._inbox, [], False
        for item in items:
            if item.dropped:
                item.coro.close()
                continue
            item.task = self.loop.create_task(item.coro)
            item.task.add_done_callback(functools.partial(self._done, item))

    def _cancel(self, item: _Work) -> None:
        item.dropped = True
        if item.task is not None:
            item.task.cancel()

    def _done(self, item: _Work, task: asyncio.Task[Any]) -> None:
        if task.cancelled():
            ended: _Ended = ("cancelled", None)
        elif (exc := task.exception()) is not None:
            ended = ("error", exc)
        else:
            ended = ("ok", task.result())
        self._hand_back(item, ended)

    def _hand_back(self, item: _Work, ended: _Ended) -> None:
        """Queue ``ended`` for the caller's loop; the first of a batch wakes that loop."""
        with self._lock:
            box = self._outboxes.setdefault(item.caller, [])
            box.append((item, ended))
            wake = len(box) == 1
        if wake:
            try:
                item.caller.call_soon_threadsafe(self._deliver, item.caller)
            except RuntimeError:  # that loop is closed: nobody awaits its answers any more
                with self._lock:
                    self._outboxes.pop(item.caller, None)

    # --- on a caller's loop -------------------------------------------------------------

    def _deliver(self, caller: asyncio.AbstractEventLoop) -> None:
        with self._lock:
            box = self._outboxes.pop(caller, [])
        for item, (kind, value) in box:
            future = item.future
            if future.done():  # its caller was cancelled
                continue
            if kind == "ok":
                future.set_result(value)
            elif kind == "error":
                future.set_exception(value)
            elif self._stopping:  # cancelled by stop(), not by its caller: say so
                future.set_exception(
                    LoopStopped(f"the event loop {self.name} stopped during the work")
                )
            else:
                future.cancel()

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
                with self._lock:  # handed over and never picked up: answered as stopped
                    left, self._inbox = self._inbox, []
                    self.loop.close()
                for item in left:
                    item.coro.close()
                    self._hand_back(item, ("cancelled", None))

    def _cancel_leftovers(self) -> None:
        # work handed over just before stop() may not have started: one more pass makes its
        # task, then every task left is cancelled and unwound (its caller sees the cancel)
        self.loop.run_until_complete(asyncio.sleep(0))
        tasks = asyncio.all_tasks(self.loop)
        for task in tasks:
            task.cancel()
        if tasks:
            self.loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))


def new_event_loop() -> asyncio.AbstractEventLoop:
    """A new event loop: uvloop's when installed, else asyncio's."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency of the api
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def _coroutine(work: Callable[..., Awaitable[T]], *args: Any) -> Coroutine[Any, Any, T]:
    async def call() -> T:
        return await work(*args)

    return call()
