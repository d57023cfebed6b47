"""The api processes' garbage collector (``sincro.heap``)."""

from __future__ import annotations

import gc
import sys
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from sincro import app as app_module, heap
from sincro.config import Settings


@pytest.fixture
def collector() -> Iterator[None]:
    """Whatever a test does to this process's collector is undone."""
    thresholds, interval = gc.get_threshold(), sys.getswitchinterval()
    yield
    sys.setswitchinterval(interval)
    gc.unfreeze()
    gc.set_threshold(*thresholds)
    heap.enable(False, 0)


def test_without_enable_the_collector_is_left_alone(collector: None) -> None:
    thresholds, frozen = gc.get_threshold(), gc.get_freeze_count()
    assert heap.settle() == 0
    assert gc.get_threshold() == thresholds
    assert gc.get_freeze_count() == frozen


def test_enable_raises_the_young_threshold_only(collector: None) -> None:
    older = gc.get_threshold()[1:]
    heap.enable(False, 50_000)
    assert gc.get_threshold() == (50_000, *older)
    assert heap.settle() == 0  # freezing stays off
    heap.enable(False, 0)  # 0: Python's threshold kept
    assert gc.get_threshold() == (50_000, *older)


def test_settle_freezes_what_is_alive(collector: None) -> None:
    kept = [[i] for i in range(1000)]  # tracked containers, alive
    heap.enable(True, 0)
    frozen = heap.settle()
    assert frozen >= len(kept)
    # what is alive left the collected generations for the permanent one (the count alone
    # moves with other threads of the test process freezing or freeing meanwhile)
    collected = {id(obj) for obj in gc.get_objects()}
    assert not any(id(obj) in collected for obj in kept)


def test_the_server_app_tunes_its_process_and_settles_its_heap_after_start(
    collector: None, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    tuned = settings.model_copy(
        update={"api_gc_young_threshold": 40_000, "api_switch_interval_ms": 0.4}
    )
    monkeypatch.setattr(app_module, "get_settings", lambda: tuned)
    app = app_module.create_server_app()
    assert gc.get_threshold()[0] == 40_000
    assert sys.getswitchinterval() == pytest.approx(0.0004)
    assert gc.get_freeze_count() == 0
    with TestClient(app) as client:
        assert gc.get_freeze_count() > 0  # the last start hook froze the heap
        assert client.get("/health").status_code == 200


def test_young_threshold_is_raised_while_blocks_run_and_restored_by_the_last(
    collector: None,
) -> None:
    gc.set_threshold(700, 10, 10)
    with heap.young_threshold(50_000):
        assert gc.get_threshold() == (50_000, 10, 10)
        with heap.young_threshold(20_000):  # nested (another entity): never lowered
            assert gc.get_threshold()[0] == 50_000
        assert gc.get_threshold()[0] == 50_000  # the outer block still runs
    assert gc.get_threshold() == (700, 10, 10)
    with heap.young_threshold(0):  # 0: left alone
        assert gc.get_threshold() == (700, 10, 10)
    gc.set_threshold(0)  # a collector turned off stays off
    with heap.young_threshold(50_000):
        assert gc.get_threshold()[0] == 0
    assert gc.get_threshold()[0] == 0
