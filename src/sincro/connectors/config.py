"""Connector configuration: a YAML file listing the ERP sources (``SINCRO_CONNECTORS_FILE``).

Example::

    sources:
      - code: sap-ecc
        kind: sap_files
        name: SAP ECC (matriz)
        inbox: var/erp/sap/inbox
        ...
      - code: protheus
        kind: protheus_rest
        base_url: http://127.0.0.1:8201
        ...

Each source kind has its own model (``sap_files.config``, ``rest.config``); a bad file is
rejected with the field path and line that is wrong, before anything runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from sincro.connectors.rest.config import JsonRestSource, ProtheusRestSource
from sincro.connectors.sap_files.config import SapFilesSource
from sincro.errors import InvalidInput

M = TypeVar("M", bound=BaseModel)

# One model per source kind: the config models of the plugins in ``sincro.connectors.kinds``
# (written out so that the type checker knows them; a test checks that both lists agree).
AnySource = SapFilesSource | ProtheusRestSource | JsonRestSource
SourceConfig = Annotated[AnySource, Field(discriminator="kind")]


class AlertsConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    slack_webhook_url: str | None = None
    email_to: list[str] = Field(default_factory=list)
    drift_units_threshold: int = Field(default=500, ge=0)
    stale_after_minutes: int = Field(default=60, ge=1)


class ConnectorsConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sources: list[SourceConfig] = Field(default_factory=list)
    alerts: AlertsConfig = Field(default_factory=AlertsConfig)

    def source(self, code: str) -> AnySource:
        for source in self.sources:
            if source.code == code:
                return source
        raise KeyError(code)


def load_yaml_model(path: Path, model: type[M]) -> M:
    """Read a YAML file into ``model``; errors name the file, and the line or field path."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise InvalidInput(f"{path}{where}: not valid YAML ({exc})", field=str(path)) from None
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        raise InvalidInput(f"{path}: {loc}: {first['msg']}", field=loc) from None


def load_config(path: Path | None) -> ConnectorsConfig:
    """Read and validate the connectors file; an absent file means no connectors."""
    if path is None or not path.exists():
        return ConnectorsConfig()
    return load_yaml_model(path, ConnectorsConfig)
