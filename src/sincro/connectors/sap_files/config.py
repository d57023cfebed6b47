"""Configuration of a SAP file-drop source.

Example (one entry of ``sources:`` in the connectors YAML)::

    - code: sap-ecc
      kind: sap_files
      name: SAP ECC (matriz)
      inbox: var/erp/sap/inbox          # SAP writes snapshots, WMMBXY and acks here
      outbox: var/erp/sap/outbox        # Sincro writes its WMMBXY write-backs here
      archive: var/erp/sap/archive      # processed files (default: <inbox>/../archive)
      quarantine: var/erp/sap/quarantine  # unparseable files + <name>.reason.txt
      encoding: auto                    # auto (UTF-8 BOM / UTF-8 / Latin-1) | utf-8 | latin-1
      decimal_separator: ","            # pt-BR lists: 1.234,000 and 12,000-
      timezone: America/Sao_Paulo       # SAP system time of BUDAT/CPUTM/file names
      readiness:
        strategy: rename                # rename | done_file | stable
        stable_checks: 3
        stable_interval_seconds: 1.0
      plants:                           # WERKS[/LGORT] -> location code (after the aliases)
        "1000": CD01
        "2001/0001": LJ0001
      units: {UN: 1, ST: 1, PC: 1, CX: 10}
      default_storage: "0001"           # LGORT written back when the alias has none
      chunk_rows: 5000                  # movement rows per transaction
      snapshot_chunk_rows: 20000        # snapshot positions per transaction
      drift_alert_units: 500            # large_drift alert past this many units of |drift|
      writeback:
        format: idoc                    # idoc (WMMBID02 XML) | csv
        retry_after_seconds: 900
        max_attempts: 5
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator


class ReadinessConfig(BaseModel):
    """How Sincro knows a dropped file is complete (see :mod:`.readiness`)."""

    model_config = ConfigDict(extra="forbid")

    strategy: Literal["rename", "done_file", "stable"] = "rename"
    done_suffixes: list[str] = Field(default_factory=lambda: [".done", ".ok"])
    stable_checks: int = Field(default=3, ge=1, le=100)
    stable_interval_seconds: float = Field(default=1.0, gt=0)
    ignore: list[str] = Field(
        default_factory=lambda: ["*.tmp", "*.part", "*.partial", ".~*", "~*", ".*"]
    )


class WriteBackConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    format: Literal["idoc", "csv"] = "idoc"
    retry_after_seconds: float = Field(default=900, gt=0)
    max_attempts: int = Field(default=5, ge=1)
    batch_size: int = Field(default=2000, ge=1)


class SapFilesSource(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,39}$")
    kind: Literal["sap_files"]
    name: str
    active: bool = True

    inbox: Path
    outbox: Path
    archive: Path | None = None
    quarantine: Path | None = None
    encoding: Literal["auto", "utf-8", "latin-1"] = "auto"
    decimal_separator: Literal[",", "."] = ","
    timezone: str = "America/Sao_Paulo"
    readiness: ReadinessConfig = Field(default_factory=ReadinessConfig)
    poll_interval_seconds: float = Field(default=2.0, gt=0)
    # folder events only mark a file; it is checked at most once per this many seconds
    event_debounce_seconds: float = Field(default=0.5, ge=0.01, le=60)
    plants: dict[str, str] = Field(default_factory=dict)
    units: dict[str, int] = Field(default_factory=lambda: {"UN": 1, "ST": 1, "PC": 1, "PÇ": 1})
    default_storage: str = "0001"
    chunk_rows: int = Field(default=5000, ge=1, le=100_000)
    snapshot_chunk_rows: int = Field(default=20_000, ge=1, le=500_000)
    drift_alert_units: int = Field(default=500, ge=0)
    sap_partner: str = "ECCCLNT100"
    sincro_partner: str = "SINCRO"
    writeback: WriteBackConfig = Field(default_factory=WriteBackConfig)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @field_validator("units")
    @classmethod
    def _positive_units(cls, value: dict[str, int]) -> dict[str, int]:
        bad = [unit for unit, factor in value.items() if not 1 <= factor <= 10_000]
        if bad:
            raise ValueError(f"unit factors must be 1..10000 (base units per unit): {bad}")
        return {unit.upper(): factor for unit, factor in value.items()}

    @property
    def tz(self) -> dt.tzinfo:
        return ZoneInfo(self.timezone)

    @property
    def archive_dir(self) -> Path:
        return self.archive or self.inbox.parent / "archive"

    @property
    def quarantine_dir(self) -> Path:
        return self.quarantine or self.inbox.parent / "quarantine"

    @property
    def movement_source(self) -> str:
        """``movements.source`` of everything this connector applies (``erp:<code>``)."""
        return f"erp:{self.code}"

    def ensure_folders(self) -> None:
        for folder in (self.inbox, self.outbox, self.archive_dir, self.quarantine_dir):
            folder.mkdir(parents=True, exist_ok=True)
