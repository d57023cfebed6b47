"""A sample of the scripted conversations (every tenth: 20 of 200) against demo-like data on
SQLite: the bench's figure (bench/assistant_resolution.py) cannot silently fall apart."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sincro.assistant import entities, scripted
from sincro.config import Settings
from sincro.db import Database, database_for
from tests.conftest import wipe


@pytest.fixture(scope="module")
def demo(
    sqlite_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Database, Settings, dict[str, str]]]:
    db = Database(sqlite_url)
    wipe(db)
    entities.forget_catalog()
    values = scripted.demo_world(db, stores=120, products=200, customers=40, documents=400)
    tmp = Path(tmp_path_factory.mktemp("scripted"))
    settings = Settings(database_url=sqlite_url, var_dir=tmp, log_json=False)
    yield db, settings, values
    database_for(settings).dispose()
    wipe(db)
    entities.forget_catalog()
    db.dispose()


def test_the_data_file_has_200_conversations_of_real_customer_writing() -> None:
    scripts = scripted.load()
    assert len(scripts) == 200
    assert sum(s.expect == "person" for s in scripts) >= 25
    turns = [t for s in scripts for t in s.turns]
    assert sum(t == t.lower() for t in turns) > len(turns) * 0.8  # people rarely capitalize
    assert any(" vcs " in f" {t} " or " qro " in f" {t} " for t in turns)


def test_a_sample_of_the_scripts_is_resolved_as_the_bench_says(
    demo: tuple[Database, Settings, dict[str, str]],
) -> None:
    db, settings, values = demo
    sample = scripted.load()[::10]
    outcomes = scripted.run_all(db, settings, sample, values)
    resolved = sum(o.resolved for o in outcomes) / len(outcomes)
    wrong = [(o.script.line, o.state, o.last_kind) for o in outcomes if not o.as_expected]
    assert resolved >= 0.6, wrong
    assert len(wrong) <= 4, wrong
    people = [o for o in outcomes if o.script.expect == "person"]
    assert people and sum(o.state == "waiting_agent" for o in people) >= len(people) - 1
