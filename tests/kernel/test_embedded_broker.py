"""Two processes declaring one queue on a fresh embedded broker: the one that loses the race
between its read and its insert takes the winner's row instead of dying (kombu's own guard is
a per-process lock)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kombu import Connection

import sincro.worker  # noqa: F401  (installs the race-safe declaration, as every process does)


class _StaleRead:
    """The read another process's insert lands just after: the first two lookups see nothing."""

    def __init__(self, session: Any) -> None:
        self.session, self.misses = session, 2

    def query(self, *args: Any) -> Any:
        real = self.session.query(*args)
        if self.misses <= 0:
            return real
        self.misses -= 1

        class Nothing:
            def filter(self, *_: Any) -> Any:
                return self

            def first(self) -> None:
                return None

        return Nothing()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.session, name)


def test_the_loser_of_a_queue_declaration_race_uses_the_winners_row(tmp_path: Path) -> None:
    url = f"sqla+sqlite:///{tmp_path / 'broker.sqlite'}"
    with Connection(url) as winner, Connection(url) as loser:
        won = winner.default_channel._get_or_create("default")
        channel = loser.default_channel
        channel._session = _StaleRead(channel.session)
        lost = channel._get_or_create("default")  # its insert fails: UNIQUE(name)
        assert lost.id == won.id and lost.name == "default"
