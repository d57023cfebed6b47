"""Customers' per-process setup in the api: the import routes take bodies up to
``SINCRO_CUSTOMERS_IMPORT_MAX_BYTES`` (plus room for the multipart envelope)."""

from __future__ import annotations

from sincro.bodylimits import declare_cap
from sincro.deps import AppState

MULTIPART_ROOM = 64 * 1024
IMPORT_ROUTES = (("POST", "/v1/customers/import"), ("POST", "/console/customers/import"))


def install(state: AppState) -> None:
    cap = state.settings.customers_import_max_bytes + MULTIPART_ROOM
    for method, path in IMPORT_ROUTES:
        declare_cap(method, path, cap)
