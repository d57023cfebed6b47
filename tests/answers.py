"""Comparing two routes' answers to the same requests (the fast routes against FastAPI's)."""

from __future__ import annotations

from typing import Any


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
