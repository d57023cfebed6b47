"""Outbox events get a topic and a JSON payload; the stock columns become optional.

Stock events keep their columns (and are written exactly as before: ``topic`` defaults to
``stock`` on the server); events of other topics store their validated payload as JSON and
leave the stock columns NULL.

On SQLite the table is rebuilt (batch mode). ``seq`` keeps counting from where it was: the
AUTOINCREMENT high-water mark is carried over, so no sequence number is ever reused (a reader
positioned past a deleted last event must not see the number again).

Webhook subscriptions get ``topics`` (JSON list; NULL for the existing ones, which keep
receiving stock changes only).

Downgrade drops the events of other topics (the old schema cannot hold them).

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

STOCK_COLUMNS: dict[str, sa.types.TypeEngine[Any]] = {
    "sku": sa.String(length=40),
    "location": sa.String(length=32),
    "available": sa.Integer(),
    "on_hand": sa.Integer(),
    "reserved": sa.Integer(),
    "version": sa.Integer(),
    "cause": sa.String(length=20),
}


def _sqlite_sequence() -> int | None:
    if op.get_bind().dialect.name != "sqlite":
        return None
    return op.get_bind().scalar(sa.text("SELECT seq FROM sqlite_sequence WHERE name = 'events'"))


def _restore_sqlite_sequence(seq: int | None) -> None:
    if seq is None:
        return
    bind = op.get_bind()
    if bind.scalar(sa.text("SELECT count(*) FROM sqlite_sequence WHERE name = 'events'")):
        bind.execute(
            sa.text("UPDATE sqlite_sequence SET seq = max(seq, :seq) WHERE name = 'events'"),
            {"seq": seq},
        )
    else:
        bind.execute(
            sa.text("INSERT INTO sqlite_sequence (name, seq) VALUES ('events', :seq)"),
            {"seq": seq},
        )


def _alter_stock_columns(nullable: bool) -> None:
    seq = _sqlite_sequence()
    with op.batch_alter_table("events", table_kwargs={"sqlite_autoincrement": True}) as batch:
        if nullable:
            batch.add_column(
                sa.Column("topic", sa.String(length=40), server_default="stock", nullable=False)
            )
            batch.add_column(sa.Column("payload", sa.JSON(), nullable=True))
        else:
            batch.drop_column("payload")
            batch.drop_column("topic")
        for name, type_ in STOCK_COLUMNS.items():
            batch.alter_column(name, existing_type=type_, nullable=nullable)
    _restore_sqlite_sequence(seq)


def upgrade() -> None:
    _alter_stock_columns(nullable=True)
    with op.batch_alter_table("webhook_subscriptions") as batch:
        batch.add_column(sa.Column("topics", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("webhook_subscriptions") as batch:
        batch.drop_column("topics")
    op.execute("DELETE FROM events WHERE topic <> 'stock'")
    _alter_stock_columns(nullable=False)
