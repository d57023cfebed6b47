"""service health: one heartbeat row per running process, and queue depth samples

Revision ID: 0019
Revises: 0018
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "service_heartbeats",
        sa.Column("instance", sa.String(length=160), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("host", sa.String(length=120), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("parent", sa.String(length=160), nullable=True),
        sa.Column("version", sa.String(length=40), nullable=False),
        sa.Column("queues", sa.JSON(), nullable=False),
        sa.Column("interval_seconds", sa.Float(), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("last_seen", sa.DateTime(), nullable=False),
        sa.Column("stopped_at", sa.DateTime(), nullable=True),
        sa.Column("errors", sa.JSON(), nullable=False),
        sa.Column("figures", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("instance", name=op.f("pk_service_heartbeats")),
    )
    op.create_index(
        op.f("ix_service_heartbeats_last_seen"), "service_heartbeats", ["last_seen"], unique=False
    )
    op.create_table(
        "queue_depth_samples",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("queue", sa.String(length=80), nullable=False),
        sa.Column("depth", sa.Integer(), nullable=False),
        sa.Column("sampled_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_queue_depth_samples")),
    )
    op.create_index(
        "ix_queue_depth_samples_queue_at", "queue_depth_samples", ["queue", "sampled_at"]
    )
    op.create_index(
        op.f("ix_queue_depth_samples_sampled_at"),
        "queue_depth_samples",
        ["sampled_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_queue_depth_samples_sampled_at"), table_name="queue_depth_samples")
    op.drop_index("ix_queue_depth_samples_queue_at", table_name="queue_depth_samples")
    op.drop_table("queue_depth_samples")
    op.drop_index(op.f("ix_service_heartbeats_last_seen"), table_name="service_heartbeats")
    op.drop_table("service_heartbeats")
