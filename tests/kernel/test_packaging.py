"""What the package promises: its package data exists, and the migrations are one history."""

from __future__ import annotations

import tomllib
from pathlib import Path

from alembic.script import ScriptDirectory

from sincro.migrate import alembic_config

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "src" / "sincro"


def test_every_package_data_pattern_matches_files() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = pyproject["tool"]["setuptools"]["package-data"]["sincro"]
    empty = [p for p in patterns if not any(f.is_file() for f in PACKAGE.glob(p))]
    assert not empty, f"package-data patterns matching no file: {empty}"


def test_every_data_file_is_package_data() -> None:
    """A file the code reads at run time (templates, mappings, training data) ships in the
    wheel: every non-Python file under the package matches a package-data pattern."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = pyproject["tool"]["setuptools"]["package-data"]["sincro"]
    shipped = {f for p in patterns for f in PACKAGE.glob(p) if f.is_file()}
    data = {
        f
        for f in PACKAGE.rglob("*")
        if f.is_file() and f.suffix not in (".py", ".pyc") and "__pycache__" not in f.parts
    }
    missing = sorted(str(f.relative_to(PACKAGE)) for f in data - shipped)
    assert not missing, f"files the package would not ship: {missing}"


def test_migrations_are_one_linear_history() -> None:
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    assert len(script.get_heads()) == 1, script.get_heads()
    revisions = list(script.walk_revisions())
    assert all(not r.is_merge_point for r in revisions)
    assert all(r.down_revision is None or isinstance(r.down_revision, str) for r in revisions)


def test_benchmarks_live_only_under_bench() -> None:
    stray = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "tests").rglob("bench*.py"))
    assert not stray, f"benchmarks belong under bench/: {stray}"
