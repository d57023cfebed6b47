"""Comparing two routes' answers to the same requests (the fast routes against FastAPI's)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from sincro.config import Settings
from sincro.db import Database


def compared_headers(response: Any, names: tuple[str, ...], window: int = 60) -> dict[str, Any]:
    """The named headers of ``response``, as two runs of the same requests can compare them.
    ``Retry-After`` counts down while a run goes on (a loaded machine spent a second between a
    key's first request and its refusal: 19 against 20), so it is checked to be a whole number
    of seconds within the limiter's window and then compared by its presence only."""
    found = {h: response.headers.get(h) for h in names}
    retry = found.get("retry-after")
    if retry is not None:
        assert retry.isdigit() and 1 <= int(retry) <= window, f"Retry-After {retry!r}"
        found["retry-after"] = "whole seconds within the window"
    return found


def on_and_off(
    run: Callable[[bool], dict[str, Any]], counted: Callable[[str], float]
) -> dict[bool, dict[str, Any]]:
    """``run(False)`` (the fast routes off) then ``run(True)``, by their flag; ``counted`` reads
    a fast-path counter by decision. Off must not move it; the fast run's result gets what it
    ``answered`` and ``handed_over``."""
    before = counted("answered"), counted("handed_over")
    slow = run(False)
    assert (counted("answered"), counted("handed_over")) == before  # off means off
    fast = run(True)
    fast["answered"] = counted("answered") - before[0]
    fast["handed_over"] = counted("handed_over") - before[1]
    return {False: slow, True: fast}


def both_runs(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    run: Callable[[Database, Settings, bool], dict[str, Any]],
    counted: Callable[[str], float],
    **settings: Any,
) -> Iterator[dict[bool, dict[str, Any]]]:
    """A module fixture's body, parametrized by database: :func:`on_and_off` of ``run`` on
    that database's test URL with ``settings``; each run seeds its own data."""
    url = request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "postgres_url")
    db = Database(url)
    base = Settings(
        database_url=url,
        var_dir=tmp_path_factory.mktemp("fast-routes"),
        log_json=False,
        **settings,
    )
    try:
        yield on_and_off(lambda fast: run(db, base, fast), counted)
    finally:
        db.dispose()
