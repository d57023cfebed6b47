"""A movement is written back to an ERP at most once.

Revision ID: 0007
Revises: 0006_search
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006_search"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("erp_writeback_movements") as batch_op:
        batch_op.create_unique_constraint("uq_erp_writeback_movements_movement_id", ["movement_id"])


def downgrade() -> None:
    with op.batch_alter_table("erp_writeback_movements") as batch_op:
        batch_op.drop_constraint("uq_erp_writeback_movements_movement_id", type_="unique")
