"""The event bus hands each subscriber its topic's events, in order, whatever the batch."""

from __future__ import annotations

from typing import Any

from sincro.bus import EventBus
from sincro.events import STOCK

Batch = list[dict[str, Any]]


def stock(seq: int) -> dict[str, Any]:
    return {"seq": seq, "sku": "S", "location": "L", "available": 1, "at": "x"}


def other(seq: int, topic: str) -> dict[str, Any]:
    return {"seq": seq, "topic": topic, "payload": {}, "at": "x"}


def test_each_subscriber_gets_its_topics_events_of_stock_only_and_mixed_batches() -> None:
    bus = EventBus()
    got: dict[str, list[Batch]] = {"all": [], STOCK: [], "a.b": [], "c": []}
    bus.subscribe(got["all"].append)
    bus.subscribe(got[STOCK].append, topic=STOCK)
    bus.subscribe(got["a.b"].append, topic="a.b")
    bus.subscribe(got["c"].append, topic="c")
    stock_only = [stock(1), stock(2)]
    bus.dispatch(stock_only)
    bus.dispatch([stock(3), other(4, "a.b"), stock(5)])
    bus.dispatch([other(6, "a.b")])
    bus.dispatch([])

    def seqs(batches: list[Batch]) -> list[list[int]]:
        return [[e["seq"] for e in batch] for batch in batches]

    assert seqs(got["all"]) == [[1, 2], [3, 4, 5], [6]]
    assert seqs(got[STOCK]) == [[1, 2], [3, 5]]
    assert seqs(got["a.b"]) == [[4], [6]]
    assert got["c"] == []  # batches without its topic are not handed over


def test_a_failing_subscriber_does_not_keep_the_others_from_their_events() -> None:
    bus = EventBus()
    seen: list[int] = []

    def fails(_batch: Batch) -> None:
        raise RuntimeError("boom")

    bus.subscribe(fails, topic=STOCK)
    bus.subscribe(lambda batch: seen.extend(e["seq"] for e in batch), topic=STOCK)
    bus.dispatch([stock(1)])
    assert seen == [1]
