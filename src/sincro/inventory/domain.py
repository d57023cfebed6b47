"""Inventory: stock levels, the movement ledger, reservations and availability."""

from sincro.domain import Domain, NavEntry

_STAFF = frozenset({"admin", "store"})

DOMAIN = Domain(
    name="inventory",
    label="Estoque",
    models=("sincro.inventory.models",),
    routers=("sincro.inventory.endpoints:router",),
    console_routers=("sincro.console.inventory.routes:router",),
    nav=(
        NavEntry("skus", "Estoque (SKUs)", "console_skus", _STAFF, order=10),
        NavEntry("locations", "Lojas e CDs", "console_locations", _STAFF, order=20),
        NavEntry("feed", "Feed ao vivo", "console_feed", _STAFF, order=30),
    ),
    task_modules=("sincro.inventory.tasks",),
    queues=("inventory",),
    task_routes={"sincro.inventory.*": "inventory"},
    beat="sincro.inventory.schedule:beat_entries",
    cli=(("inventory", "sincro.inventory.cli:inventory_app"),),
    runtime="sincro.inventory.runtime:install",
    metrics=("sincro.inventory.metrics",),
    audit_actions={
        "stock.count": "Contagem de estoque",
    },
)
