"""Connectors: ERP sync (SAP file drops, REST ERPs), write-back, sync health."""

from sincro.domain import Domain, NavEntry

DOMAIN = Domain(
    name="connectors",
    label="Sincronização",
    models=("sincro.connectors.models",),
    routers=("sincro.connectors.endpoints:router",),
    console_routers=("sincro.console.sync.routes:router",),
    nav=(NavEntry("sync", "Sincronização", "console_sync", frozenset({"admin"}), order=40),),
    task_modules=("sincro.connectors.tasks", "sincro.connectors.sap_files.tasks"),
    queues=("ingest", "sync"),
    task_routes={"sincro.connectors.ingest.*": "ingest", "sincro.connectors.*": "sync"},
    beat="sincro.connectors.schedule:beat_entries",
    cli=(("sync", "sincro.connectors.cli:sync_app"),),
    runtime="sincro.connectors.metrics:install",
    metrics=("sincro.connectors.metrics",),
    children="sincro.connectors.kinds:serve_commands",
    startup_jobs="sincro.connectors.kinds:queue_startup_jobs",
    audit_actions={
        "sync.replay": "Arquivo reprocessado",
    },
)
