"""The installed domains: every contribution resolves, every table is declared by a domain,
and the migrations build exactly the schema the models describe (SQLite and PostgreSQL)."""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys
from typing import Any

import pytest
import typer
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from fastapi import APIRouter
from sqlalchemy import create_engine

import sincro
from sincro.db import Base, postgres_url
from sincro.domain import Domain, resolve, resolve_callable
from sincro.domains import INSTALLED, installed
from sincro.migrate import include_name
from sincro.models import metadata


def test_every_installed_package_declares_a_domain() -> None:
    domains = installed()
    assert [d.name for d in domains] == [p.rsplit(".", 1)[1] for p in INSTALLED]
    assert all(isinstance(d, Domain) for d in domains)


@pytest.mark.parametrize("domain", installed(), ids=lambda d: d.name)
def test_contributions_resolve(domain: Domain) -> None:
    for path in (*domain.routers, *domain.console_routers):
        assert isinstance(resolve(path), APIRouter), path
    for _name, path in domain.cli:
        assert isinstance(resolve(path), typer.Typer), path
    for path in (domain.beat, domain.runtime, domain.children, domain.startup_jobs):
        resolve_callable(path)
    for module in (*domain.models, *domain.task_modules, *domain.metrics):
        resolve(module)
    assert set(domain.task_routes.values()) <= set(domain.queues)


def test_every_nav_entry_is_a_console_page(settings: Any) -> None:
    from sincro.app import create_app

    app = create_app(settings)
    for domain in installed():
        for entry in domain.nav:
            assert app.url_path_for(entry.route).startswith("/console"), entry


def _all_tables_after_importing_everything() -> set[str]:
    for module in pkgutil.walk_packages(sincro.__path__, "sincro."):
        if ".migrations" not in module.name:
            importlib.import_module(module.name)
    return set(Base.metadata.tables)


def _declared_tables() -> set[str]:
    """The tables ``sincro.models`` knows, in a fresh interpreter (this one has imported more)."""
    code = "from sincro.models import metadata; print(' '.join(sorted(metadata.tables)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def test_no_table_outside_the_domains_models() -> None:
    undeclared = _all_tables_after_importing_everything() - _declared_tables()
    assert not undeclared, f"tables no domain lists in its domain.py `models`: {undeclared}"


def test_migrations_agree_with_the_models(database_url: str) -> None:
    engine = create_engine(postgres_url(database_url))
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(
                connection,
                opts={"include_name": include_name, "compare_type": True},
            )
            differences = compare_metadata(context, metadata)
    finally:
        engine.dispose()
    assert differences == [], "\n".join(str(d) for d in differences)
