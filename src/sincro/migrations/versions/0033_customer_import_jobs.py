"""customers: imports run on the workers (the upload stored for them, a lease per run)

Revision ID: 0033
Revises: 0031
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0033"
down_revision = "0031"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("customer_imports") as batch:
        batch.add_column(
            sa.Column("worker", sa.String(length=120), nullable=False, server_default="")
        )
        batch.add_column(sa.Column("lease_until", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("enqueued_at", sa.DateTime(), nullable=True))
    op.create_table(
        "customer_import_uploads",
        sa.Column(
            "import_id",
            sa.Integer(),
            sa.ForeignKey("customer_imports.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("stored_at", sa.DateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("customer_import_uploads")
    with op.batch_alter_table("customer_imports") as batch:
        batch.drop_column("enqueued_at")
        batch.drop_column("attempts")
        batch.drop_column("lease_until")
        batch.drop_column("worker")
