"""Assistente: the pt-BR service assistant. Its understanding (the intent classifier trained
at first use from the repository's training set, the exact rules that find entities,
``POST /v1/assistant/parse``), its conversations and dialogue (answers from Sincro's data,
identity checks, handoff; the retention purge and its part of LGPD export and erasure), the
people side (the agents' queue, live conversations ``…/events``, the "Atendimento" console:
inbox, history, analytics) and the public face (site keys, the widget's public endpoints and
files, channel adapters: ``assistant/widget``, ``assistant/channels``)."""

from sincro.domain import Domain, NavEntry

AGENTS = frozenset({"agent"})

DOMAIN = Domain(
    name="assistant",
    label="Assistente",
    models=(
        "sincro.assistant.models",
        "sincro.assistant.agent_models",
        "sincro.assistant.widget.models",
    ),
    routers=(
        "sincro.assistant.endpoints:router",
        "sincro.assistant.live_endpoints:router",
        "sincro.assistant.widget.endpoints:public_router",
        "sincro.assistant.widget.endpoints:admin_router",
        "sincro.assistant.widget.pages:router",
        "sincro.assistant.channels.endpoints:router",
    ),
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
    task_modules=("sincro.assistant.tasks", "sincro.assistant.channels.tasks"),
    beat="sincro.assistant.schedule:beat_entries",
    runtime="sincro.assistant.runtime:install",
    cli=(("assistant", "sincro.assistant.cli:assistant_app"),),
    audit_actions={
        "site_key.create": "Chave de site do assistente criada",
        "site_key.revoke": "Chave de site do assistente revogada",
    },
    personal_data="sincro.assistant.retention:PERSONAL_DATA",
)
