"""Cobrança: receivable notices (dunning) and the payment artifacts (boleto, PIX, PDF)."""

from sincro.domain import Domain, NavEntry

DOMAIN = Domain(
    name="billing",
    label="Cobrança",
    models=("sincro.billing.models",),
    routers=("sincro.billing.endpoints:router",),
    console_routers=("sincro.console.billing.routes:router",),
    nav=(NavEntry("billing", "Cobrança", "console_billing", frozenset({"billing"}), order=75),),
    task_modules=("sincro.billing.tasks",),
    beat="sincro.billing.schedule:beat_entries",
    cli=(("billing", "sincro.billing.cli:billing_app"),),
)
