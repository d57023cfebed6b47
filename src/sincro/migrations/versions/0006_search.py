"""search index for product documents and products

The index holds text that Python has already folded (no accents, lower case), tokenised and
stemmed (Snowball Portuguese), so both databases index exactly the same terms:

- ``search_entries``: one row per indexed document or product (identity, flags, title terms);
  its id is ``document id * 2`` or ``product id * 2 + 1``;
- ``search_terms``: the vocabulary (folded word -> stem) that typo tolerance matches against;
- ``search_meta``: the index generation, bumped by every change (caches are checked against it);
- SQLite: ``search_fts``, an FTS5 table (title terms, body terms, kind) whose rowid is the
  entry id, ranked by bm25 with the title weighing 10 times the body;
- PostgreSQL: ``search_entries.tsv`` (the 'simple' configuration over the stemmed text: title
  with weight A, body with weight D) and a GIN index on it.

These tables are a derived index, kept out of the ORM metadata: ``sincro search reindex``
rebuilds them from ``product_documents`` and ``products``.

Revision ID: 0006_search
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import sincro.db

revision = "0006_search"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "search_entries",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("entity", sa.String(length=10), nullable=False),
        sa.Column("entity_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("sku", sa.String(length=40), nullable=True),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("superseded", sa.Boolean(), nullable=False),
        sa.Column("title_terms", sa.Text(), nullable=False),
        sa.Column("indexed_at", sincro.db.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_search_entries")),
    )
    op.create_table(
        "search_terms",
        sa.Column("word", sa.String(length=40), nullable=False),
        sa.Column("stem", sa.String(length=40), nullable=False),
        sa.PrimaryKeyConstraint("word", name=op.f("pk_search_terms")),
    )
    op.create_table(
        "search_meta",
        sa.Column("key", sa.String(length=40), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_search_meta")),
    )
    op.execute("INSERT INTO search_meta (key, value) VALUES ('generation', 0)")
    if op.get_bind().dialect.name == "sqlite":
        op.execute(
            "CREATE VIRTUAL TABLE search_fts USING fts5("
            "title_terms, body_terms, kind, tokenize = 'ascii', detail = full)"
        )
        op.execute(
            "INSERT INTO search_fts (search_fts, rank) VALUES ('rank', 'bm25(10.0, 1.0, 0.0)')"
        )
    else:
        op.execute("ALTER TABLE search_entries ADD COLUMN tsv tsvector NOT NULL")
        op.execute("CREATE INDEX ix_search_entries_tsv ON search_entries USING gin (tsv)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TABLE IF EXISTS search_fts")
    op.drop_table("search_meta")
    op.drop_table("search_terms")
    op.drop_table("search_entries")
