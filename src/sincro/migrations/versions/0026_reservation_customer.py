"""reservations: the customer an order is for (optional), so the assistant can tell a verified
customer the status of their own orders

Revision ID: 0026
Revises: 0027
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0026"
down_revision = "0027"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("reservations", sa.Column("customer_id", sa.Integer(), nullable=True))
    op.create_index("ix_reservations_customer", "reservations", ["customer_id", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_reservations_customer", table_name="reservations")
    with op.batch_alter_table("reservations") as batch:
        batch.drop_column("customer_id")
