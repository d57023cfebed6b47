"""customers grow for messaging: birth date, plan, customer since, merges by document,
erasure; receivables get number, paid date and status; consent (current + evidence history)
and the e-mail suppression list

Revision ID: 0015
Revises: 0014
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("customers") as batch:
        batch.add_column(sa.Column("birth_date", sa.Date(), nullable=True))
        batch.add_column(sa.Column("plan", sa.String(length=60), nullable=True))
        batch.add_column(sa.Column("customer_since", sa.Date(), nullable=True))
        batch.add_column(sa.Column("merged_into_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("erased_at", sa.DateTime(), nullable=True))
        batch.create_foreign_key(
            "fk_customers_merged_into_id_customers",
            "customers",
            ["merged_into_id"],
            ["id"],
            ondelete="SET NULL",
        )
        batch.create_index("ix_customers_merged_into_id", ["merged_into_id"])
        batch.create_index("ix_customers_email", ["email"])
        batch.create_index("ix_customers_state_city", ["state", "city"])
    with op.batch_alter_table("receivables") as batch:
        batch.add_column(sa.Column("number", sa.String(length=40), nullable=True))
        batch.add_column(sa.Column("paid_on", sa.Date(), nullable=True))
        batch.add_column(
            sa.Column("status", sa.String(length=12), server_default="open", nullable=False)
        )
    op.create_table(
        "customer_consents",
        sa.Column(
            "customer_id",
            sa.Integer(),
            sa.ForeignKey("customers.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("channel", sa.String(length=12), primary_key=True),
        sa.Column("purpose", sa.String(length=12), primary_key=True),
        sa.Column("granted", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
    )
    op.create_table(
        "customer_consent_events",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "customer_id",
            sa.Integer(),
            sa.ForeignKey("customers.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("channel", sa.String(length=12), nullable=False),
        sa.Column("purpose", sa.String(length=12), nullable=False),
        sa.Column("granted", sa.Boolean(), nullable=False),
        sa.Column("source", sa.String(length=40), nullable=False),
        sa.Column("evidence", sa.String(length=300), nullable=False),
        sa.Column("recorded_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_consent_events_customer", "customer_consent_events", ["customer_id", "id"])
    op.create_table(
        "email_suppressions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("email", sa.String(length=200), nullable=False),
        sa.Column("purpose", sa.String(length=12), nullable=False),
        sa.Column("reason", sa.String(length=20), nullable=False),
        sa.Column("detail", sa.String(length=300), nullable=False),
        sa.Column("hits", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.UniqueConstraint("email", "purpose"),
    )


def downgrade() -> None:
    op.drop_table("email_suppressions")
    op.drop_index("ix_consent_events_customer", table_name="customer_consent_events")
    op.drop_table("customer_consent_events")
    op.drop_table("customer_consents")
    with op.batch_alter_table("receivables") as batch:
        batch.drop_column("status")
        batch.drop_column("paid_on")
        batch.drop_column("number")
    with op.batch_alter_table("customers") as batch:
        batch.drop_index("ix_customers_state_city")
        batch.drop_index("ix_customers_email")
        batch.drop_index("ix_customers_merged_into_id")
        batch.drop_constraint("fk_customers_merged_into_id_customers", type_="foreignkey")
        batch.drop_column("erased_at")
        batch.drop_column("merged_into_id")
        batch.drop_column("customer_since")
        batch.drop_column("plan")
        batch.drop_column("birth_date")
