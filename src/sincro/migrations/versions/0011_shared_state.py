"""shared state: token buckets, window counters and locks shared by every process (embedded
mode; with Redis configured they live there instead)

UNLOGGED on PostgreSQL: an API request takes a token, and a logged table would make that a WAL
flush per request (4 ms against 0.7 ms measured). The price, as with a Redis without
persistence: a server crash empties the tables (full buckets, no locks held).

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    unlogged = ["UNLOGGED"] if op.get_bind().dialect.name == "postgresql" else []
    op.create_table(
        "shared_counters",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("amount", sa.Double(), nullable=False),
        sa.Column("stamp", sa.Double(), nullable=False),
        sa.Column("expires_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_shared_counters")),
        prefixes=unlogged,
    )
    op.create_index(
        op.f("ix_shared_counters_expires_at"), "shared_counters", ["expires_at"], unique=False
    )
    op.create_table(
        "shared_locks",
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("owner", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_shared_locks")),
        prefixes=unlogged,
    )
    op.create_index(
        op.f("ix_shared_locks_expires_at"), "shared_locks", ["expires_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_shared_locks_expires_at"), table_name="shared_locks")
    op.drop_table("shared_locks")
    op.drop_index(op.f("ix_shared_counters_expires_at"), table_name="shared_counters")
    op.drop_table("shared_counters")
