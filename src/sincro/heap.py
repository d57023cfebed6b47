"""An api process's garbage collector, tuned for thousands of requests in flight.

Under thousands of open connections an api process holds thousands of requests in flight
whose objects (tasks, futures, coroutines, scopes) wait for their turn for hundreds of
milliseconds. With Python's default thresholds the youngest generation is collected after
every 700 new objects, so nearly all of them are still alive at their first collections:
they are traversed there, promoted, and traversed again by the full collections that the
promotions set off, which also walk the process's whole long-lived heap (modules, the app,
SQLAlchemy's and pydantic's structures, the location directory, the availability snapshots).
Under the mixed flash-sale load (3,000 connections, ``bench/flash_mixed.py``) py-spy
(``--gil --native``) found 41 % of an api process's time in ``gc_collect_main``.

:func:`enable` (``sincro api``'s processes, :func:`sincro.app.create_server_app`) raises the
youngest generation's threshold (``SINCRO_API_GC_YOUNG_THRESHOLD``), so most of a request's
objects are freed by reference counting before a collection ever sees them; nothing else
changes (cycles are still found, a little later). :func:`settle` collects once and freezes what
is alive (:func:`gc.freeze`: moved to a permanent generation that collections skip; frozen
objects are still freed by reference counting when dropped); the api settles its heap once
its start hooks have run and again when a start-up warm-up that fills a cache has finished
(the availability cache's, :mod:`sincro.inventory.runtime`). ``SINCRO_API_GC_FREEZE=false``
turns the freezing off. A process that did not call :func:`enable` (a test run creating many
apps) keeps its collector as it is.

:func:`young_threshold` raises the same threshold for a block only (a REST sync's entity run,
``SINCRO_CONNECTORS_GC_YOUNG_THRESHOLD``), restoring it when the last such block ends.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

log = logging.getLogger("sincro.heap")
_freeze = False
_raised = 0  # blocks of young_threshold running now
_found = 0  # the youngest threshold the first of them found
_raised_lock = threading.Lock()


def enable(freeze: bool, young_threshold: int) -> None:
    """Tune this process's collector: the youngest generation's threshold (0: Python's),
    and whether :func:`settle` freezes."""
    global _freeze
    _freeze = freeze
    if young_threshold > 0:
        gc.set_threshold(young_threshold, *gc.get_threshold()[1:])


def settle() -> int:
    """Collect, then freeze what is alive; the number of objects now frozen (0 when freezing
    is not enabled in this process). Blocks for one full collection (tens to hundreds of
    ms: at start, and once the warm-up is done)."""
    if not _freeze:
        return 0
    started = time.perf_counter()
    gc.collect()
    gc.freeze()
    frozen = gc.get_freeze_count()
    log.info(
        "heap settled: %d objects frozen (collection took %.0f ms)",
        frozen,
        (time.perf_counter() - started) * 1000,
    )
    return frozen


@contextmanager
def young_threshold(threshold: int) -> Iterator[None]:
    """While the block runs, the youngest generation is collected after at least
    ``threshold`` new objects (0, or a collector turned off: left as it is). Blocks may nest
    and run in several threads at once: the last one to end restores the threshold the first
    found. For work that holds many objects for a while, page after page (a REST sync's pages
    of thousands of records), which Python's 700 would traverse and promote over and over."""
    global _raised, _found
    if threshold <= 0:
        yield
        return
    with _raised_lock:
        current = gc.get_threshold()
        if _raised == 0:
            _found = current[0]
        _raised += 1
        if 0 < current[0] < threshold:
            gc.set_threshold(threshold, *current[1:])
    try:
        yield
    finally:
        with _raised_lock:
            _raised -= 1
            if _raised == 0:
                gc.set_threshold(_found, *gc.get_threshold()[1:])
