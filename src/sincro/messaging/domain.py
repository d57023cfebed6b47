"""Messaging: templates, campaigns, the send ledger and its e-mail workers, transactional
mail, unsubscribes and bounces."""

from sincro.domain import Domain, NavEntry

DOMAIN = Domain(
    name="messaging",
    label="Mensagens",
    models=("sincro.messaging.models",),
    routers=("sincro.messaging.endpoints:router", "sincro.messaging.unsubscribe:router"),
    console_routers=("sincro.console.messaging.routes:router",),
    nav=(
        NavEntry(
            "messaging",
            "Mensagens",
            "console_messaging",
            frozenset({"admin", "marketing"}),
            order=70,
        ),
    ),
    task_modules=("sincro.messaging.tasks",),
    queues=("messaging", "email"),
    task_routes={
        "sincro.messaging.send_batch": "email",
        "sincro.messaging.*": "messaging",
    },
    beat="sincro.messaging.schedule:beat_entries",
    cli=(("messaging", "sincro.messaging.cli:app"),),
    metrics=("sincro.messaging.metrics",),
    personal_data="sincro.messaging.privacy:PERSONAL_DATA",
    audit_actions={
        "template.create": "Modelo criado",
        "template.update": "Modelo alterado",
        "campaign.create": "Campanha criada",
        "campaign.start": "Campanha iniciada",
        "campaign.pause": "Campanha pausada",
        "campaign.resume": "Campanha retomada",
        "campaign.cancel": "Campanha cancelada",
        "campaign.retry_failed": "Falhas reenviadas",
    },
)
