"""Assistente: the pt-BR service assistant. This part is its understanding: the intent
classifier trained at first use from the repository's training set, the exact rules that find
entities (CPF/CNPJ, invoice and order numbers, e-mail, phone, CEP, city/UF, products), and
``POST /v1/assistant/parse``."""

from sincro.domain import Domain

DOMAIN = Domain(
    name="assistant",
    label="Assistente",
    models=("sincro.assistant.models",),
    routers=("sincro.assistant.endpoints:router",),
    runtime="sincro.assistant.runtime:install",
    cli=(("assistant", "sincro.assistant.cli:assistant_app"),),
)
