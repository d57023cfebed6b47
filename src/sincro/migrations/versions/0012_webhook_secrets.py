"""webhook secrets derived from a salt (never stored), rotation with an overlap, and no
credentials in stored URLs

Existing plaintext secrets move to ``legacy_secret`` (receivers keep working) until the
subscription's first rotation; ``user:pass@`` is removed from existing URLs.

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

import sqlalchemy as sa
from alembic import op

from sincro.db import UTCDateTime

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

subs = sa.table("webhook_subscriptions", sa.column("id", sa.Integer), sa.column("url", sa.String))


def upgrade() -> None:
    with op.batch_alter_table("webhook_subscriptions") as batch:
        batch.alter_column(
            "secret",
            new_column_name="legacy_secret",
            existing_type=sa.String(length=128),
            nullable=True,
        )
        batch.add_column(sa.Column("secret_salt", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("previous_secret_salt", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("previous_secret_until", UTCDateTime(), nullable=True))
    _strip_credentials()


def _strip_credentials() -> None:
    bind = op.get_bind()
    for sub_id, url in bind.execute(sa.select(subs.c.id, subs.c.url)).all():
        parts = urlsplit(url)
        if "@" in parts.netloc:
            clean = urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))
            bind.execute(sa.update(subs).where(subs.c.id == sub_id).values(url=clean))


def downgrade() -> None:
    with op.batch_alter_table("webhook_subscriptions") as batch:
        batch.drop_column("previous_secret_until")
        batch.drop_column("previous_secret_salt")
        batch.drop_column("secret_salt")
        batch.alter_column(
            "legacy_secret",
            new_column_name="secret",
            existing_type=sa.String(length=128),
            nullable=True,
        )
