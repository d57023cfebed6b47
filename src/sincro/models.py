"""Imports every model module so that ``Base.metadata`` knows every table (Alembic, tests)."""

from sincro import events, idempotency  # noqa: F401
from sincro.access import models as access_models  # noqa: F401
from sincro.catalog import models as catalog_models  # noqa: F401
from sincro.connectors import models as connectors_models  # noqa: F401
from sincro.customers import models as customers_models  # noqa: F401
from sincro.db import Base
from sincro.feed import models as feed_models  # noqa: F401
from sincro.inventory import models as inventory_models  # noqa: F401

metadata = Base.metadata
