"""The connectors' alerts: the kernel's alert service (:mod:`sincro.alerts`) bound to this
domain, with the pt-BR names of the kinds it raises."""

from __future__ import annotations

from sincro.alerts import DomainAlerts

ALERTS = DomainAlerts(
    "connectors",
    {
        "breaker_open": "disjuntor aberto",
        "source_down": "origem indisponível",
        "sync_failed": "falha de sincronização",
        "stale_source": "dados desatualizados",
        "writeback_failed": "falha no envio ao ERP",
        "writeback_refused": "envio recusado pelo ERP",
        "large_drift": "divergência de estoque",
        "snapshot_missing_positions": "posições ausentes no snapshot",
        "snapshot_superseded": "snapshot antigo ignorado",
        "file_failed": "arquivo do ERP com falha",
        "file_backlog": "arquivos do ERP acumulados",
        "movement_gap": "movimentos faltando na sequência",
        "negative_stock": "estoque negativo no ERP",
    },
)
raise_alert = ALERTS.raise_alert
resolve_alerts = ALERTS.resolve_alerts
