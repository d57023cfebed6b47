"""The ledger and the reservation lines no longer lock their store's row on every insert

A foreign key makes PostgreSQL check every inserted row against its parent with ``SELECT …
FOR KEY SHARE``: a row lock on the parent, written to the WAL. Every reservation, sale and
receipt at one store inserts a ledger row (``movements``) and a reservation a line
(``reservation_lines``), so during a flash sale every concurrent transaction locks the same
``locations`` row twice, and concurrent lockers of one row share it through a MultiXact that
each new locker copies and extends. Measured on the storm's statement (16 connections,
pgbench): ~75 µs of PostgreSQL CPU per reservation of ~580, the two location checks costing
four times the two product checks.

Both columns stay what they were (the location's id, NOT NULL): they are written only for a
stock level that exists (the reservation's hold updates that level in the same statement, the
ledger records changes of levels), and ``stock_levels`` keeps its own foreign keys to
``locations`` and ``products``; locations are never deleted. The product and reservation
foreign keys stay: the product rows of a sale are spread over its SKUs.

Revision ID: 0035
Revises: 0034
"""

from __future__ import annotations

from alembic import op

revision = "0035"
down_revision = "0034"
branch_labels = None
depends_on = None

_TABLES = ("movements", "reservation_lines")


def upgrade() -> None:
    for table in _TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_constraint(f"fk_{table}_location_id_locations", type_="foreignkey")


def downgrade() -> None:
    for table in _TABLES:
        with op.batch_alter_table(table) as batch:
            batch.create_foreign_key(
                f"fk_{table}_location_id_locations", "locations", ["location_id"], ["id"]
            )
