"""automation: interests from conversations, rules and their offers

Revision ID: 0029
Revises: 0025
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0029"
down_revision = "0025"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "automation_interests",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "customer_id",
            sa.Integer(),
            sa.ForeignKey("customers.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("ref", sa.String(length=60), nullable=False),
        sa.Column("strength", sa.Float(), nullable=False),
        sa.Column("strength_at", sa.DateTime(), nullable=False),
        sa.Column("hits", sa.Integer(), nullable=False),
        sa.Column("first_seen", sa.DateTime(), nullable=False),
        sa.Column("last_seen", sa.DateTime(), nullable=False),
        sa.Column("city", sa.String(length=120), nullable=True),
        sa.Column("state", sa.String(length=2), nullable=True),
        sa.Column("wish_id", sa.Integer(), nullable=True),
        sa.UniqueConstraint("customer_id", "kind", "ref", name="uq_automation_interests_key"),
    )
    op.create_index(
        "ix_automation_interests_kind_seen", "automation_interests", ["kind", "last_seen"]
    )
    op.create_table(
        "automation_rules",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("min_strength", sa.Float(), nullable=False),
        sa.Column("within_days", sa.Integer(), nullable=False),
        sa.Column(
            "template_id", sa.Integer(), sa.ForeignKey("message_templates.id"), nullable=False
        ),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.String(length=120), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
    )
    op.create_table(
        "automation_offers",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "rule_id",
            sa.Integer(),
            sa.ForeignKey("automation_rules.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column(
            "customer_id",
            sa.Integer(),
            sa.ForeignKey("customers.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("trigger", sa.String(length=80), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("ref", sa.String(length=60), nullable=False),
        sa.Column("sku", sa.String(length=40), nullable=True),
        sa.Column("wish_id", sa.Integer(), nullable=True),
        sa.Column("code", sa.String(length=20), nullable=False, unique=True),
        sa.Column("sent_at", sa.DateTime(), nullable=False),
        sa.Column("converted_at", sa.DateTime(), nullable=True),
        sa.Column("conversion", sa.String(length=120), nullable=True),
        sa.UniqueConstraint(
            "rule_id", "customer_id", "trigger", name="uq_automation_offers_trigger"
        ),
    )
    op.create_index(
        "ix_automation_offers_customer_sent", "automation_offers", ["customer_id", "sent_at"]
    )
    op.create_index("ix_automation_offers_sent", "automation_offers", ["sent_at"])


def downgrade() -> None:
    op.drop_table("automation_offers")
    op.drop_table("automation_rules")
    op.drop_index("ix_automation_interests_kind_seen", table_name="automation_interests")
    op.drop_table("automation_interests")
