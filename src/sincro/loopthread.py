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
- The loop is uvloop's when uvloop is installed, else asyncio's: asyncio's own loop is pure
  Python, and under a storm its iterations, handles and self-pipe reads were a good part of
  the thread's CPU for each statement it carried. (The api's own loop, which holds the
  clients' sockets, is asyncio's by default: ``SINCRO_API_LOOP``; this one holds a few
  database connections, where uvloop's unfairness at thousands of sockets does not arise.)
- :meth:`LoopThread.stop` ends the loop: work still running is cancelled, its callers and
  later ones get :class:`LoopStopped`, and the thread ends.

Whatever belongs to the loop (async connections, asyncio primitives) is made and closed by
work run on it; ``AppState.on_loop``/``close_loop`` keep one per name and app.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")
log = logging.getLogger("sincro.loopthread")


class LoopStopped(RuntimeError):
    """Work was handed to a loop that was stopped (the app is shutting down)."""


@dataclass(slots=True, eq=False)
class _Work:
    """Work handed over: what to await, the caller's loop and future it answers, and how it
    ended once it did (carried back as is: no tuple per answer)."""

    work: Callable[..., Awaitable[Any]]
    args: tuple[Any, ...]
    caller: asyncio.AbstractEventLoop
    future: asyncio.Future[Any]  # the caller's
    task: asyncio.Task[Any] | None = None  # on the thread's loop, once picked up
    dropped: bool = False  # the caller was cancelled before the work was picked up
    ended: str = ""  # "ok", "error" or "cancelled", with ``value`` (the result, the error)
    value: Any = None


class LoopThread:
    """An asyncio event loop running in a daemon thread named ``name`` (started at once)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.loop = new_event_loop()
        self._lock = threading.Lock()
        self._stopping = False
        self._inbox: list[_Work] = []  # handed over, not picked up yet
        self._woken = False  # a pick-up is scheduled on the thread's loop
        self._outboxes: dict[asyncio.AbstractEventLoop, list[_Work]] = {}
        # picked up and not answered yet (the thread's loop only): what a stop must answer
        # when its task was cancelled before its first step (``_drive`` never ran)
        self._running: set[_Work] = set()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    @property
    def thread(self) -> threading.Thread:
        return self._thread

    async def run(self, work: Callable[..., Awaitable[T]], *args: Any) -> T:
        """``await work(*args)`` on this loop, from the caller's loop."""
        caller = asyncio.get_running_loop()
        item = _Work(work, args, caller, caller.create_future())
        with self._lock:  # no work is handed over once stop() began
            if self._stopping:
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
            if not item.dropped:
                self._running.add(item)
                item.task = self.loop.create_task(self._drive(item))

    async def _drive(self, item: _Work) -> None:
        """Await the work and hand back how it ended, as soon as it did (no done callback,
        which costs a partial and one more turn of the loop)."""
        try:
            result = await item.work(*item.args)
        except asyncio.CancelledError:
            self._hand_back(item, "cancelled", None)
            raise
        except Exception as exc:  # the caller's to handle: retrieved here, not logged
            self._hand_back(item, "error", exc)
        except BaseException as exc:  # SystemExit and alike: the caller's and the loop's
            self._hand_back(item, "error", exc)
            raise
        else:
            self._hand_back(item, "ok", result)

    def _cancel(self, item: _Work) -> None:
        item.dropped = True
        self._running.discard(item)  # its caller wants no answer any more
        if item.task is not None:
            item.task.cancel()

    def _hand_back(self, item: _Work, ended: str, value: Any) -> None:
        """Queue how ``item`` ended for the caller's loop; the first of a batch wakes it."""
        item.ended, item.value = ended, value
        self._running.discard(item)
        caller = item.caller
        with self._lock:
            box = self._outboxes.get(caller)
            if box is None:
                box = self._outboxes[caller] = []
            box.append(item)
            wake = len(box) == 1
        if wake:
            try:
                caller.call_soon_threadsafe(self._deliver, caller)
            except RuntimeError:  # that loop is closed: nobody awaits its answers any more
                with self._lock:
                    self._outboxes.pop(caller, None)

    # --- on a caller's loop -------------------------------------------------------------

    def _deliver(self, caller: asyncio.AbstractEventLoop) -> None:
        with self._lock:
            box = self._outboxes.pop(caller, [])
        for item in box:
            future = item.future
            if future.done():  # its caller was cancelled
                continue
            if item.ended == "ok":
                future.set_result(item.value)
            elif item.ended == "error":
                future.set_exception(item.value)
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
                with self._lock:
                    left, self._inbox = self._inbox, []
                    self.loop.close()
                # never picked up, or cancelled before its first step: answered as stopped
                for item in [*left, *self._running]:
                    self._hand_back(item, "cancelled", None)

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
