"""messaging: templates with immutable versions, campaigns, the send ledger

Revision ID: 0016
Revises: 0024
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0024"
branch_labels = None
depends_on = None

LEDGER_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "message_templates",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("key", sa.String(length=80), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("purpose", sa.String(length=12), nullable=False),
        sa.Column("variables", sa.JSON(), nullable=False),
        sa.Column("system", sa.Boolean(), nullable=False),
        sa.Column("current_version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.UniqueConstraint("key", name="uq_message_templates_key"),
    )
    op.create_table(
        "message_template_versions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "template_id",
            sa.Integer(),
            sa.ForeignKey("message_templates.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("html", sa.Text(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=120), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.UniqueConstraint(
            "template_id", "version", name="uq_message_template_versions_template_id_version"
        ),
    )
    op.create_table(
        "campaigns",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column(
            "template_id",
            sa.Integer(),
            sa.ForeignKey("message_templates.id", ondelete="RESTRICT"),
            nullable=True,
        ),
        sa.Column(
            "template_version_id",
            sa.Integer(),
            sa.ForeignKey("message_template_versions.id", ondelete="RESTRICT"),
            nullable=True,
        ),
        sa.Column("purpose", sa.String(length=12), nullable=False),
        sa.Column("segment", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("start_at", sa.DateTime(), nullable=True),
        sa.Column("rate_per_second", sa.Float(), nullable=False),
        sa.Column("sender", sa.String(length=200), nullable=False),
        sa.Column("reply_to", sa.String(length=200), nullable=True),
        sa.Column("audience_total", sa.Integer(), nullable=False),
        sa.Column("materialized_after", sa.Integer(), nullable=False),
        sa.Column("materialized", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.String(length=120), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=True),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
    )
    op.create_index("ix_campaigns_state", "campaigns", ["state"])
    op.create_table(
        "send_ledger",
        sa.Column("id", LEDGER_ID, primary_key=True),
        sa.Column(
            "campaign_id",
            sa.Integer(),
            sa.ForeignKey("campaigns.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("dedupe_key", sa.String(length=200), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column(
            "template_version_id",
            sa.Integer(),
            sa.ForeignKey("message_template_versions.id", ondelete="RESTRICT"),
            nullable=False,
        ),
        sa.Column("purpose", sa.String(length=12), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("email", sa.String(length=200), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("city", sa.String(length=120), nullable=True),
        sa.Column("state", sa.String(length=2), nullable=True),
        sa.Column("plan", sa.String(length=60), nullable=True),
        sa.Column("time_zone", sa.String(length=64), nullable=False),
        sa.Column("context", sa.JSON(), nullable=True),
        sa.Column("attachments", sa.JSON(), nullable=True),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("claimed_by", sa.String(length=120), nullable=True),
        sa.Column("claimed_at", sa.DateTime(), nullable=True),
        sa.Column("next_attempt_at", sa.DateTime(), nullable=True),
        sa.Column("enqueued_at", sa.DateTime(), nullable=True),
        sa.Column("sent_at", sa.DateTime(), nullable=True),
        sa.Column("message_id", sa.String(length=250), nullable=True),
        sa.Column("in_doubt", sa.Boolean(), nullable=False),
        sa.Column("last_code", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column("bounced_at", sa.DateTime(), nullable=True),
        sa.Column("unsubscribed_at", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.UniqueConstraint(
            "campaign_id", "dedupe_key", name="uq_send_ledger_campaign_id_dedupe_key"
        ),
    )
    op.create_index("ix_send_ledger_campaign_status", "send_ledger", ["campaign_id", "status"])
    op.create_index("ix_send_ledger_status_due", "send_ledger", ["status", "next_attempt_at"])
    op.create_index("ix_send_ledger_customer", "send_ledger", ["customer_id"])


def downgrade() -> None:
    op.drop_table("send_ledger")
    op.drop_index("ix_campaigns_state", table_name="campaigns")
    op.drop_table("campaigns")
    op.drop_table("message_template_versions")
    op.drop_table("message_templates")
