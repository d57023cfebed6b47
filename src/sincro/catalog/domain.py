"""Catalog: locations, products, product documents and their search; offers (prices, telecom
plans, promotions)."""

from sincro.domain import Domain, NavEntry

DOMAIN = Domain(
    name="catalog",
    label="Catálogo",
    models=("sincro.catalog.models",),
    routers=(
        "sincro.catalog.endpoints:router",
        "sincro.catalog.search_endpoints:router",
        "sincro.catalog.offers_endpoints:router",
    ),
    console_routers=("sincro.console.search.routes:router", "sincro.console.offers.routes:router"),
    nav=(
        NavEntry(
            "search", "Busca", "console_search", frozenset({"admin", "store", "agent"}), order=50
        ),
        NavEntry("offers", "Ofertas", "console_offers", frozenset({"admin"}), order=55),
    ),
    cli=(("search", "sincro.catalog.search_cli:search_app"),),
    audit_actions={
        "price.set": "Preço definido",
        "price.delete": "Preço removido",
        "plan.set": "Plano definido",
        "promotion.set": "Promoção definida",
        "promotion.delete": "Promoção removida",
    },
)
