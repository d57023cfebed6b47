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
"""

from __future__ import annotations

import gc
import logging
import time

log = logging.getLogger("sincro.heap")
_freeze = False


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
