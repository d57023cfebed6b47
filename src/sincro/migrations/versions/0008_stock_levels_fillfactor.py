"""Leave free space in stock-level pages so that stock changes are HOT updates (PostgreSQL).

Every stock change rewrites its level row. With full pages (fillfactor 100, the default, and
a demo or migration load that packs them) the new row version lands in another page and both
indexes of the table get a new entry; with 20 % free space PostgreSQL writes the new version in
the same page and touches no index (a heap-only tuple). Applies to pages written from now on.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE stock_levels SET (fillfactor = 80)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE stock_levels RESET (fillfactor)")
