"""Reports: new customers, defaulters, billing and campaign results; report e-mails."""

from sincro.domain import Domain, NavEntry

DOMAIN = Domain(
    name="reports",
    label="Relatórios",
    models=("sincro.reports.models",),
    routers=("sincro.reports.endpoints:router",),
    console_routers=("sincro.console.reports.routes:router",),
    nav=(
        NavEntry(
            "reports",
            "Relatórios",
            "console_reports",
            frozenset({"admin", "billing", "marketing"}),
            order=70,
        ),
    ),
    task_modules=("sincro.reports.tasks",),
    beat="sincro.reports.schedule:beat_entries",
    audit_actions={
        "report_schedule.create": "Agendamento criado",
        "report_schedule.delete": "Agendamento removido",
    },
)
