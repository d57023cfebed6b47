"""forecasting: how many backtest actuals a series' P10–P90 coverage was scored on

Revision ID: 0031
Revises: 0026
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0031"
down_revision = "0026"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("forecast_series") as batch:
        batch.add_column(
            sa.Column("coverage_points", sa.Integer(), nullable=False, server_default="0")
        )


def downgrade() -> None:
    with op.batch_alter_table("forecast_series") as batch:
        batch.drop_column("coverage_points")
