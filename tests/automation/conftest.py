from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sincro.config import reset_settings
from tests.messaging.support import dispatched  # noqa: F401


@pytest.fixture(autouse=True)
def _global_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """messaging reads a few settings globally: keep that var/ inside the test's directory."""
    monkeypatch.setenv("SINCRO_VAR_DIR", str(tmp_path / "var"))
    reset_settings()
    yield
    reset_settings()
