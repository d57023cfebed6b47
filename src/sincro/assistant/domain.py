"""Assistente: the pt-BR service assistant. This part is its understanding: the intent
classifier trained at first use from the repository's training set, the exact rules that find
entities (CPF/CNPJ, invoice and order numbers, e-mail, phone, CEP, city/UF, products), and
``POST /v1/assistant/parse``; the public face: site keys, the widget's public endpoints and
files, channel adapters (``assistant/widget``, ``assistant/channels``)."""

from sincro.domain import Domain

DOMAIN = Domain(
    name="assistant",
    label="Assistente",
    models=("sincro.assistant.models", "sincro.assistant.widget.models"),
    routers=(
        "sincro.assistant.endpoints:router",
        "sincro.assistant.widget.endpoints:public_router",
        "sincro.assistant.widget.endpoints:admin_router",
        "sincro.assistant.widget.pages:router",
        "sincro.assistant.channels.endpoints:router",
    ),
    task_modules=("sincro.assistant.channels.tasks",),
    runtime="sincro.assistant.runtime:install",
    cli=(("assistant", "sincro.assistant.cli:assistant_app"),),
    audit_actions={
        "site_key.create": "Chave de site do assistente criada",
        "site_key.revoke": "Chave de site do assistente revogada",
    },
)
