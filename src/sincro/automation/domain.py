"""Marketing automation from conversations: interests from the assistant's interactions,
rules that turn them into offers through messaging, and their results.

Its own domain: it reads the assistant's contract topic (``assistant.interaction``) and acts
through other domains' services (messaging's transactional send, customers' consent and
suppression, the one wish list), owning only interests, rules and offers."""

from sincro.domain import Domain, NavEntry

DOMAIN = Domain(
    name="automation",
    label="Automação",
    models=("sincro.automation.models",),
    routers=("sincro.automation.endpoints:router",),
    console_routers=("sincro.console.automation.routes:router",),
    nav=(
        NavEntry(
            "automation",
            "Automação",
            "console_automation",
            frozenset({"admin", "marketing"}),
            order=72,
        ),
    ),
    task_modules=("sincro.automation.tasks",),
    beat="sincro.automation.schedule:beat_entries",
    personal_data="sincro.automation.privacy:PERSONAL_DATA",
    audit_actions={
        "automation.rule.create": "Regra de automação criada",
        "automation.rule.update": "Regra de automação alterada",
    },
)
