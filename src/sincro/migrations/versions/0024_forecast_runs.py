"""forecast runs (the registry's versions), their chunks, per-series results, stored
forecasts and promotions

Revision ID: 0024
Revises: 0023
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "forecast_runs",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("level", sa.String(length=12), nullable=False),
        sa.Column("scope", sa.JSON(), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("versions", sa.JSON(), nullable=False),
        sa.Column("data_start", sa.Date(), nullable=False),
        sa.Column("data_end", sa.Date(), nullable=False),
        sa.Column("chunks_total", sa.Integer(), nullable=False),
        sa.Column("chunks_done", sa.Integer(), nullable=False),
        sa.Column("series_done", sa.Integer(), nullable=False),
        sa.Column("metrics", sa.JSON(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=True),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
    )
    op.create_table(
        "forecast_chunks",
        sa.Column(
            "run_id",
            sa.Integer(),
            sa.ForeignKey("forecast_runs.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("number", sa.Integer(), primary_key=True),
        sa.Column("skus", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("lease_until", sa.DateTime(), nullable=True),
        sa.Column("worker", sa.String(length=120), nullable=True),
        sa.Column("series", sa.Integer(), nullable=False),
        sa.Column("seconds", sa.Float(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
    )
    op.create_table(
        "forecast_series",
        sa.Column(
            "run_id",
            sa.Integer(),
            sa.ForeignKey("forecast_runs.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("sku", sa.String(length=60), primary_key=True),
        sa.Column("key", sa.String(length=40), primary_key=True),
        sa.Column("pattern", sa.String(length=16), nullable=False),
        sa.Column("champion", sa.String(length=60), nullable=False),
        sa.Column("mase", sa.Float(), nullable=True),
        sa.Column("quantile_loss", sa.Float(), nullable=True),
        sa.Column("coverage", sa.Float(), nullable=True),
        sa.Column("scale", sa.Float(), nullable=True),
        sa.Column("flags", sa.String(length=200), nullable=False),
    )
    op.create_table(
        "forecast_error_pools",
        sa.Column(
            "run_id",
            sa.Integer(),
            sa.ForeignKey("forecast_runs.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("number", sa.Integer(), primary_key=True),
        sa.Column("pattern", sa.String(length=16), primary_key=True),
        sa.Column("paths", sa.JSON(), nullable=False),
    )
    op.create_table(
        "forecast_values",
        sa.Column(
            "run_id",
            sa.Integer(),
            sa.ForeignKey("forecast_runs.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("sku", sa.String(length=60), primary_key=True),
        sa.Column("key", sa.String(length=40), primary_key=True),
        sa.Column("day", sa.Date(), primary_key=True),
        sa.Column("mean", sa.Float(), nullable=False),
        sa.Column("quantiles", sa.JSON(), nullable=False),
    )
    op.create_index("ix_forecast_values_lookup", "forecast_values", ["sku", "key", "run_id"])
    op.create_table(
        "forecast_promotions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("level", sa.String(length=12), nullable=False),
        sa.Column(
            "run_id",
            sa.Integer(),
            sa.ForeignKey("forecast_runs.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("promoted_by", sa.String(length=120), nullable=False),
        sa.Column("promoted_at", sa.DateTime(), nullable=False),
        sa.Column("rolled_back_at", sa.DateTime(), nullable=True),
    )
    op.create_index("ix_forecast_promotions_level", "forecast_promotions", ["level"])


def downgrade() -> None:
    op.drop_index("ix_forecast_promotions_level", table_name="forecast_promotions")
    op.drop_table("forecast_promotions")
    op.drop_index("ix_forecast_values_lookup", table_name="forecast_values")
    op.drop_table("forecast_values")
    op.drop_table("forecast_error_pools")
    op.drop_table("forecast_series")
    op.drop_table("forecast_chunks")
    op.drop_table("forecast_runs")
