"""Assistente: the pt-BR service assistant. Its understanding (the intent classifier trained
at first use from the repository's training set, the exact rules that find entities,
``POST /v1/assistant/parse``), its conversations, and the people side: the agents' queue,
live conversations (``…/events``), the "Atendimento" console (inbox, history, analytics)."""

from sincro.domain import Domain, NavEntry

AGENTS = frozenset({"agent"})

DOMAIN = Domain(
    name="assistant",
    label="Assistente",
    models=("sincro.assistant.models", "sincro.assistant.agent_models"),
    routers=("sincro.assistant.endpoints:router", "sincro.assistant.live_endpoints:router"),
    console_routers=(
        "sincro.console.assistant.routes:router",
        "sincro.console.assistant.reports:router",
    ),
    nav=(
        NavEntry("assistant", "Atendimento", "console_assistant_inbox", AGENTS, order=76),
        NavEntry(
            "assistant_analytics",
            "Análise do atendimento",
            "console_assistant_analytics",
            AGENTS,
            order=77,
        ),
    ),
    task_modules=("sincro.assistant.tasks",),
    beat="sincro.assistant.schedule:beat_entries",
    runtime="sincro.assistant.runtime:install",
    cli=(("assistant", "sincro.assistant.cli:assistant_app"),),
)
