"""Schema migrations (Alembic), applied the same way to SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine
from sqlalchemy.pool import NullPool

from sincro.db import postgres_url

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def include_name(name: str | None, type_: str, parent_names: object) -> bool:
    """Search index tables are created by hand in 0006 (FTS5 / tsvector), not from models."""
    return not (type_ == "table" and name is not None and name.startswith("search_"))


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", postgres_url(database_url).replace("%", "%%"))
    return config


class SchemaNotCurrent(RuntimeError):
    """Production mode found a database behind the code's migrations."""


def current_heads(database_url: str) -> set[str]:
    """The revisions the database is at (empty for a database never migrated)."""
    engine = create_engine(postgres_url(database_url), poolclass=NullPool)
    try:
        with engine.connect() as connection:
            return set(MigrationContext.configure(connection).get_current_heads())
    finally:
        engine.dispose()


def code_heads() -> set[str]:
    return set(ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads())


def ensure_schema(database_url: str, *, embedded: bool) -> bool:
    """Bring the schema to the code's head in embedded mode (True when it migrated); in
    production refuse to run on a database that is behind, naming the command that fixes it."""
    if current_heads(database_url) == code_heads():
        return False
    if not embedded:
        raise SchemaNotCurrent(
            "the database schema is not at this version's migrations: "
            "run `sincro migrate` first (production mode never migrates by itself)"
        )
    upgrade(database_url)
    return True


def upgrade(database_url: str, revision: str = "heads") -> None:
    command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str, revision: str) -> None:
    command.downgrade(alembic_config(database_url), revision)


def revision(database_url: str, message: str) -> None:
    command.revision(alembic_config(database_url), message=message, autogenerate=True)
