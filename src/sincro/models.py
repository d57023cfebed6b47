"""Every table in one ``Base.metadata`` (Alembic, tests): the kernel's tables and each
installed domain's ``models`` modules."""

from sincro import alerts, audit, events, idempotency, sharedstate  # noqa: F401  (kernel tables)
from sincro.db import Base
from sincro.domain import resolve
from sincro.domains import installed

for _domain in installed():
    for _module in _domain.models:
        resolve(_module)

metadata = Base.metadata
