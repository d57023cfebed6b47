"""billing: one row per receivable and dunning step (never twice), receivables indexed by
issue date; wishes: the one list of
back-in-stock wishes (the reader's position is a feed_cursors row)

Revision ID: 0017
Revises: 0016
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # dunning reads open receivables by issue date as well as by due date
    # billing's dunning reads receivables by issue date through ix_receivables_issued, which
    # migration 0022 (reports) already made (issued_on first, covering status and amount)
    op.create_table(
        "receivable_notices",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "receivable_id",
            sa.Integer(),
            sa.ForeignKey("receivables.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("step", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("local_date", sa.Date(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.UniqueConstraint("receivable_id", "step"),
    )
    op.create_index("ix_receivable_notices_created", "receivable_notices", ["created_at"])
    op.create_index("ix_receivable_notices_customer_id", "receivable_notices", ["customer_id"])
    op.create_table(
        "stock_wishes",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "customer_id",
            sa.Integer(),
            sa.ForeignKey("customers.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("sku", sa.String(length=40), nullable=False),
        sa.Column("scope", sa.String(length=8), nullable=False),
        sa.Column("location_code", sa.String(length=32), nullable=True),
        sa.Column("city", sa.String(length=120), nullable=True),
        sa.Column("state", sa.String(length=2), nullable=True),
        sa.Column("source", sa.String(length=8), nullable=False),
        sa.Column("since_seq", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("notified_at", sa.DateTime(), nullable=True),
        sa.Column("notified_via", sa.String(length=20), nullable=True),
        sa.Column("trigger_seq", sa.BigInteger(), nullable=True),
        sa.Column("trigger_location", sa.String(length=32), nullable=True),
    )
    op.create_index("ix_stock_wishes_sku_open", "stock_wishes", ["sku", "notified_at"])
    op.create_index("ix_stock_wishes_customer", "stock_wishes", ["customer_id", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_stock_wishes_customer", table_name="stock_wishes")
    op.drop_index("ix_stock_wishes_sku_open", table_name="stock_wishes")
    op.drop_table("stock_wishes")
    op.drop_index("ix_receivable_notices_customer_id", table_name="receivable_notices")
    op.drop_index("ix_receivable_notices_created", table_name="receivable_notices")
    op.drop_table("receivable_notices")
