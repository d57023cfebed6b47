"""assistant, people: agents' presence and capacity, suggested replies, e-mail replies and CSAT

Revision ID: 0027
Revises: 0028
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0027"
down_revision = "0028"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("assistant_conversations") as batch:
        batch.add_column(
            sa.Column("reply_by_email", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.add_column(sa.Column("csat_asked_at", sa.DateTime(), nullable=True))
    op.create_table(
        "assistant_agents",
        sa.Column(
            "user_id",
            sa.Integer(),
            sa.ForeignKey("console_users.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("available", sa.Boolean(), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=True),
        sa.Column("last_seen_at", sa.DateTime(), nullable=True),
    )
    op.create_table(
        "assistant_reply_templates",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("intent", sa.String(length=30), nullable=True),
        sa.Column("title", sa.String(length=80), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_assistant_reply_templates_intent", "assistant_reply_templates", ["intent"])


def downgrade() -> None:
    op.drop_table("assistant_reply_templates")
    op.drop_table("assistant_agents")
    with op.batch_alter_table("assistant_conversations") as batch:
        batch.drop_column("csat_asked_at")
        batch.drop_column("reply_by_email")
