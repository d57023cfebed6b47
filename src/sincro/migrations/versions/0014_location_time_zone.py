"""locations carry an IANA time zone for the times shown to people (filled from the UF)

Revision ID: 0014
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

# Frozen copy of sincro.catalog.timezones at this revision (migrations never import app code
# that may change later).
DEFAULT_ZONE = "America/Sao_Paulo"
ZONE_BY_STATE = {
    "AC": "America/Rio_Branco",
    "AM": "America/Manaus",
    "RR": "America/Boa_Vista",
    "RO": "America/Porto_Velho",
    "MT": "America/Cuiaba",
    "MS": "America/Campo_Grande",
}


def upgrade() -> None:
    with op.batch_alter_table("locations") as batch:
        batch.add_column(
            sa.Column(
                "time_zone", sa.String(length=40), server_default=DEFAULT_ZONE, nullable=False
            )
        )
    locations = sa.table("locations", sa.column("state"), sa.column("city"), sa.column("time_zone"))
    for state, zone in ZONE_BY_STATE.items():
        op.execute(locations.update().where(locations.c.state == state).values(time_zone=zone))
    op.execute(
        locations.update()
        .where(locations.c.state == "PE", sa.func.lower(locations.c.city).like("%noronha%"))
        .values(time_zone="America/Noronha")
    )


def downgrade() -> None:
    with op.batch_alter_table("locations") as batch:
        batch.drop_column("time_zone")
