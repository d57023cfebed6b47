"""Assistente: the pt-BR service assistant. Its understanding (the intent classifier trained
at first use from the repository's training set, the exact rules that find entities,
``POST /v1/assistant/parse``), its conversations and dialogue (answers from Sincro's data,
identity checks, handoff to people; ``/v1/assistant/conversations``), the retention purge and
its part of LGPD export and erasure."""

from sincro.domain import Domain

DOMAIN = Domain(
    name="assistant",
    label="Assistente",
    models=("sincro.assistant.models",),
    routers=("sincro.assistant.endpoints:router",),
    runtime="sincro.assistant.runtime:install",
    cli=(("assistant", "sincro.assistant.cli:assistant_app"),),
    task_modules=("sincro.assistant.tasks",),
    beat="sincro.assistant.schedule:beat_entries",
    personal_data="sincro.assistant.retention:PERSONAL_DATA",
)
