"""Customers, consent, suppression and receivables (from the ERPs, the API, CSV imports)."""

from sincro.domain import Domain, NavEntry

DOMAIN = Domain(
    name="customers",
    label="Clientes",
    models=("sincro.customers.models",),
    routers=("sincro.customers.endpoints:router",),
    console_routers=("sincro.console.customers.routes:router",),
    nav=(
        NavEntry(
            "customers",
            "Clientes",
            "console_customers",
            frozenset({"admin", "billing", "marketing", "agent"}),
            order=45,
        ),
    ),
    task_modules=("sincro.customers.tasks",),
    queues=("imports",),
    task_routes={"sincro.customers.run_import": "imports"},  # the sweep stays on default
    beat="sincro.customers.schedule:beat_entries",
    cli=(("customers", "sincro.customers.cli:customers_app"),),
    runtime="sincro.customers.runtime:install",
    personal_data="sincro.customers.privacy:PERSONAL_DATA",
    audit_actions={
        "customer.create": "Cliente cadastrado",
        "customer.merge": "Cadastro unificado",
        "customer.update": "Cliente alterado",
        "customer.consent": "Consentimento registrado",
        "customer.exported": "Dados exportados (LGPD)",
        "customer.erased": "Dados apagados (LGPD)",
        "suppression.add": "Endereço bloqueado",
        "suppression.remove": "Bloqueio removido",
    },
)
