"""The ``protheus_rest`` kind: a TOTVS Protheus-style REST API (SB1, SB2, SA1, SE1), pulled page
by page, which also takes Sincro's sales as write-backs (``writeback_path``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sincro.connectors.base import BeatEntries, WriteBack, WriteBackOutcome
from sincro.connectors.rest.config import ProtheusRestSource
from sincro.connectors.rest.plugin import RestPullSync

if TYPE_CHECKING:
    from sincro.config import Settings
    from sincro.connectors.config import ConnectorsConfig

WRITEBACK_SECONDS = 30.0


class ProtheusRestPlugin(RestPullSync[ProtheusRestSource], WriteBack[ProtheusRestSource]):
    """Pull sync plus write-back of Sincro's unacknowledged sales."""

    def beat_entries(self, source: ProtheusRestSource) -> BeatEntries:
        """The pull-sync crons, and a write-back pass every 30 s when ``writeback_path`` is set."""
        entries = super().beat_entries(source)
        if source.writeback_path:
            entries[f"writeback-{source.code}"] = {
                "task": "sincro.connectors.rest_writeback",
                "schedule": WRITEBACK_SECONDS,
                "args": (source.code,),
            }
        return entries

    def write_back(
        self, settings: Settings, config: ConnectorsConfig, code: str
    ) -> WriteBackOutcome:
        """Collect new write-backs and send the due ones (the ERP acknowledges in its answer)."""
        from sincro.connectors.rest.writeback import run_writeback

        report = run_writeback(settings, config, code)
        return WriteBackOutcome(
            created=len(report.created),
            sent=len(report.acknowledged),
            acknowledged=len(report.acknowledged),
            retrying=len(report.retrying),
            failed=len(report.failed),
        )


PROTHEUS_REST = ProtheusRestPlugin(ProtheusRestSource, label="Protheus (REST)")
