"""Celery beat entries of the SAP file drops, which the sap_files plugin gives the beat. A pure
function: importing it does not import the Celery app (which calls the schedule while it is
being created)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

INBOX_SCAN_SECONDS = 60.0
WRITEBACK_SECONDS = 30.0
PRUNE_ARCHIVE_SECONDS = 600.0


def beat_entries(source_codes: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Per active sap_files source: an inbox scan (the safety net behind ``sincro sync watch``:
    registers what the watcher missed and re-queues files a dead worker left), write-back
    collect + flush, and the archive's retention."""
    entries: dict[str, dict[str, Any]] = {}
    for code in source_codes:
        entries[f"sap-{code}-scan-inbox"] = {
            "task": "sincro.connectors.ingest.scan_inbox",
            "schedule": INBOX_SCAN_SECONDS,
            "args": (code,),
        }
        entries[f"sap-{code}-prune-archive"] = {
            "task": "sincro.connectors.ingest.prune_archive",
            "schedule": PRUNE_ARCHIVE_SECONDS,
            "args": (code,),
        }
        for step in ("collect", "flush"):
            entries[f"sap-{code}-writeback-{step}"] = {
                "task": f"sincro.connectors.writeback.{step}",
                "schedule": WRITEBACK_SECONDS,
                "args": (code,),
            }
    return entries
