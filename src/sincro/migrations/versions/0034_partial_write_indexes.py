"""Two indexes of the reservation write path hold only the rows they are searched for

``ix_movements_idempotency`` (source, idempotency_key) and ``ix_reservations_customer``
(customer_id, created_at) got an entry for every ledger row and every reservation, although
only rows with a key (ERP deliveries) or a named customer can be found through them; a
flash-sale reservation has neither. As partial indexes (``… IS NOT NULL``) a reservation
writes two index entries fewer. The reservations of a customer are read by equality or IN on
``customer_id``, which implies the condition, so those plans keep the index; no query reads
movements by key today.

Revision ID: 0034
Revises: 0033
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0034"
down_revision = "0033"
branch_labels = None
depends_on = None

_PARTIAL = (
    ("ix_movements_idempotency", "movements", ["source", "idempotency_key"], "idempotency_key"),
    ("ix_reservations_customer", "reservations", ["customer_id", "created_at"], "customer_id"),
)


def upgrade() -> None:
    for name, table, columns, column in _PARTIAL:
        where = sa.text(f"{column} IS NOT NULL")
        op.drop_index(name, table_name=table)
        op.create_index(name, table, columns, postgresql_where=where, sqlite_where=where)


def downgrade() -> None:
    for name, table, columns, _column in _PARTIAL:
        op.drop_index(name, table_name=table)
        op.create_index(name, table, columns)
