"""daily sales history per SKU x location (local days, online part, censored stock-out days), history kept per UF
rolled up from the ledger, and the roll-up's cursor

Revision ID: 0023
Revises: 0015
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sales_daily",
        sa.Column("product_id", sa.Integer(), sa.ForeignKey("products.id"), primary_key=True),
        sa.Column("location_id", sa.Integer(), sa.ForeignKey("locations.id"), primary_key=True),
        sa.Column("day", sa.Date(), primary_key=True),
        sa.Column("units", sa.Integer(), nullable=False),
        sa.Column("online_units", sa.Integer(), nullable=False),
        sa.Column("stockout", sa.Boolean(), nullable=False),
    )
    op.create_table(
        "sales_daily_uf",
        sa.Column("product_id", sa.Integer(), sa.ForeignKey("products.id"), primary_key=True),
        sa.Column("state", sa.String(length=2), primary_key=True),
        sa.Column("day", sa.Date(), primary_key=True),
        sa.Column("units", sa.Integer(), nullable=False),
        sa.Column("online_units", sa.Integer(), nullable=False),
        sa.Column("stockout", sa.Boolean(), nullable=False),
    )
    op.create_table(
        "sales_history_cursor",
        sa.Column("name", sa.String(length=40), primary_key=True),
        sa.Column("last_movement_id", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("sales_history_cursor")
    op.drop_table("sales_daily_uf")
    op.drop_table("sales_daily")
