"""Celery tasks of the SAP file drops.

``sincro.connectors.ingest.*`` run on the ``ingest`` queue, ``sincro.connectors.writeback.*`` on
``sync``. Each loads its source from the connectors file (``SINCRO_CONNECTORS_FILE``) and owns its
transactions. Processing a file is resumable, so the task is safe to run again after a worker
died (``acks_late`` re-delivers it).
"""

from __future__ import annotations

import logging

from sincro.db import get_database
from sincro.tasks import task

log = logging.getLogger("sincro.connectors.sap_files")


@task("sincro.connectors.ingest.process_file", time_limit=3600, max_retries=5)
def process_file(file_id: int) -> str:
    """Process one registered inbound file (snapshot, goods movements or acknowledgement)."""
    from sincro.connectors.models import ErpFile
    from sincro.connectors.sap_files import service

    db = get_database()
    with db.read() as session:
        erp_file = session.get(ErpFile, file_id)
        if erp_file is None:
            log.warning("no such file", extra={"file_id": file_id})
            return "missing"
        source = erp_file.source
    outcome = service.process_file(db, service.source_config(source), file_id)
    return outcome.state


@task("sincro.connectors.ingest.scan_inbox", time_limit=600)
def scan_inbox(source_code: str) -> list[int]:
    """Register the complete files of a source's inbox and queue those waiting."""
    from sincro.connectors.sap_files import service

    return service.scan_inbox(get_database(), service.source_config(source_code))


@task("sincro.connectors.ingest.prune_archive", time_limit=300)
def prune_archive(source_code: str) -> int:
    """Delete processed files older than ``SINCRO_CONNECTORS_ARCHIVE_KEEP_DAYS`` from the
    source's archive folder; returns how many."""
    from sincro.config import get_settings
    from sincro.connectors.sap_files import service

    cfg = service.source_config(source_code)
    return len(service.prune_archive(cfg, get_settings().connectors_archive_keep_days))


@task("sincro.connectors.writeback.collect", time_limit=300)
def collect(source_code: str) -> list[str]:
    """Record write-backs for the Sincro-originated movements none carries yet (idempotent)."""
    from sincro.connectors.sap_files import service, writeback

    cfg = service.source_config(source_code)
    with get_database().write() as session:
        return writeback.collect(session, cfg)


@task("sincro.connectors.writeback.flush", time_limit=300)
def flush(source_code: str) -> list[str]:
    """Write due write-backs (new, or unacknowledged past their retry time) to the outbox."""
    from sincro.connectors.sap_files import service, writeback

    cfg = service.source_config(source_code)
    with get_database().write() as session:
        return writeback.flush(session, cfg).written
