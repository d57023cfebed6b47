"""signup_messages: sign-up e-mails handled, one row per Message-ID, with their outcome

Revision ID: 0018
Revises: 0024
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import sincro.db

revision = "0018"
down_revision = "0024"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "signup_messages",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("message_key", sa.String(length=64), nullable=False),
        sa.Column("message_id", sa.String(length=255), nullable=False),
        sa.Column("sender", sa.String(length=200), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("problems", sa.JSON(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=True),
        sa.Column("created", sa.Boolean(), nullable=True),
        sa.Column("reply_message_id", sa.String(length=255), nullable=True),
        sa.Column("received_at", sincro.db.UTCDateTime(), nullable=False),
        sa.Column("replied_at", sincro.db.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_signup_messages")),
        sa.UniqueConstraint("message_key", name=op.f("uq_signup_messages_message_key")),
    )
    with op.batch_alter_table("signup_messages") as batch_op:
        batch_op.create_index(
            "ix_signup_messages_sender_replied", ["sender", "replied_at"], unique=False
        )


def downgrade() -> None:
    op.drop_table("signup_messages")
