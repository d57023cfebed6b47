"""assistant: conversations (flow state as JSONB) and their messages

Revision ID: 0025
Revises: 0017
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0025"
down_revision = "0017"
branch_labels = None
depends_on = None

JSON_DOC = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "assistant_conversations",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("external_ref", sa.String(length=120), nullable=True),
        sa.Column("token_hash", sa.String(length=64), nullable=True),
        sa.Column(
            "customer_id",
            sa.Integer(),
            sa.ForeignKey("customers.id", ondelete="SET NULL"),
            nullable=True,
        ),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("flow", JSON_DOC, nullable=False),
        sa.Column("handoff_reason", sa.String(length=30), nullable=True),
        sa.Column(
            "agent_user_id",
            sa.Integer(),
            sa.ForeignKey("console_users.id", ondelete="SET NULL"),
            nullable=True,
        ),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("last_message_at", sa.DateTime(), nullable=False),
        sa.Column("queued_at", sa.DateTime(), nullable=True),
        sa.Column("taken_at", sa.DateTime(), nullable=True),
        sa.Column("closed_at", sa.DateTime(), nullable=True),
        sa.Column("close_reason", sa.String(length=30), nullable=True),
        sa.Column("csat", sa.SmallInteger(), nullable=True),
        sa.Column("messages_count", sa.Integer(), nullable=False),
    )
    op.create_index(
        "ix_assistant_conversations_state", "assistant_conversations", ["state", "queued_at"]
    )
    op.create_index(
        "ix_assistant_conversations_customer",
        "assistant_conversations",
        ["customer_id", "created_at"],
    )
    op.create_index(
        "ix_assistant_conversations_agent", "assistant_conversations", ["agent_user_id", "state"]
    )
    op.create_index("ix_assistant_conversations_created", "assistant_conversations", ["created_at"])
    op.create_table(
        "assistant_messages",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "conversation_id",
            sa.Integer(),
            sa.ForeignKey("assistant_conversations.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("sender", sa.String(length=10), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("intent", sa.String(length=30), nullable=True),
        sa.Column("confidence", sa.Float(), nullable=True),
        sa.Column("payload", JSON_DOC, nullable=False),
        sa.Column(
            "agent_user_id",
            sa.Integer(),
            sa.ForeignKey("console_users.id", ondelete="SET NULL"),
            nullable=True,
        ),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )
    op.create_index(
        "ix_assistant_messages_conversation",
        "assistant_messages",
        ["conversation_id", "seq"],
        unique=True,
    )
    op.create_index("ix_assistant_messages_created", "assistant_messages", ["created_at"])


def downgrade() -> None:
    op.drop_table("assistant_messages")
    op.drop_table("assistant_conversations")
