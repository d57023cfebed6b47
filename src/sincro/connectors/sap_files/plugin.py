"""The ``sap_files`` kind: SAP ECC exchanging files through drop folders (snapshots, goods
movements and acknowledgements in; write-back IDocs or CSV out)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sincro.connectors.base import BeatEntries, FileIntake, WriteBack, WriteBackOutcome
from sincro.connectors.sap_files import schedule
from sincro.connectors.sap_files.config import SapFilesSource

if TYPE_CHECKING:
    import typer

    from sincro.config import Settings
    from sincro.connectors.config import ConnectorsConfig
    from sincro.connectors.sap_files.service import Outcome
    from sincro.db import Database


class SapFilesPlugin(FileIntake[SapFilesSource], WriteBack[SapFilesSource]):
    """File intake from the inbox (watcher, readiness, ingest) and write-back to the outbox."""

    task_modules = ("sincro.connectors.sap_files.tasks",)

    def beat_entries(self, source: SapFilesSource) -> BeatEntries:
        """The inbox scan (safety net behind the watcher) and write-back collect + flush."""
        return schedule.beat_entries([source.code])

    def register_cli(self, app: typer.Typer) -> None:
        """``sincro sync watch|files|ingest|replay``."""
        from sincro.connectors.sap_files import cli

        cli.register(app)

    def scan_inbox(self, db: Database, source: SapFilesSource) -> list[int]:
        """Register the complete files of the inbox and queue those waiting."""
        from sincro.connectors.sap_files import service

        return service.scan_inbox(db, source)

    def ingest_path(self, db: Database, source: SapFilesSource, path: Path) -> Outcome:
        """Register one file now and process it in this process."""
        from sincro.connectors.sap_files import service

        return service.ingest_path(db, source, path)

    def write_back(
        self, settings: Settings, config: ConnectorsConfig, code: str
    ) -> WriteBackOutcome:
        """Collect write-backs for new Sincro movements, then write the due ones to the
        outbox (acknowledgements come back later as files in the inbox)."""
        from sincro.connectors.sap_files import writeback
        from sincro.db import database_for

        source = config.source(code)
        if not isinstance(source, SapFilesSource):
            raise TypeError(f"source {code!r} is not a sap_files source")
        created, flushed = writeback.run(database_for(settings), source)
        return WriteBackOutcome(
            created=len(created), sent=len(flushed.written), failed=len(flushed.failed)
        )


SAP_FILES = SapFilesPlugin(SapFilesSource, label="SAP (arquivos)")
