"""Configuration of REST ERP sources: a Protheus-style ERP and a JSON document ERP.

Secrets never live in the YAML: ``auth`` names the environment variables that hold them::

    - code: protheus
      kind: protheus_rest
      name: Protheus (filiais)
      base_url: http://127.0.0.1:8201
      auth: {kind: basic, username_env: PROTHEUS_USER, password_env: PROTHEUS_PASSWORD}
      mapping: protheus.yaml           # a packaged example, or a path to your own file
      schedule: "*/15 * * * *"
      entities:
        - {name: products, schedule: "0 * * * *"}
        - {name: stock}
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

PACKAGED_MAPPINGS = Path(__file__).parent / "mappings"


def validate_cron(expression: str) -> str:
    """A 5-field cron expression (minute hour day-of-month month day-of-week)."""
    from celery.schedules import crontab

    fields = expression.split()
    if len(fields) != 5:
        raise ValueError(f"cron expression {expression!r} must have 5 fields, has {len(fields)}")
    try:
        crontab(*fields)
    except Exception as exc:
        raise ValueError(f"cron expression {expression!r} is not valid: {exc}") from None
    return " ".join(fields)


class AuthConfig(BaseModel):
    """Bearer token or basic credentials, read from the named environment variables."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["bearer", "basic"]
    token_env: str | None = None
    username_env: str | None = None
    password_env: str | None = None

    @model_validator(mode="after")
    def _names(self) -> AuthConfig:
        if self.kind == "bearer" and not self.token_env:
            raise ValueError("bearer auth needs token_env (the variable holding the token)")
        if self.kind == "basic" and not (self.username_env and self.password_env):
            raise ValueError("basic auth needs username_env and password_env")
        return self

    def headers(self) -> dict[str, str]:
        """Authorization header built from the environment (KeyError names a missing one)."""
        import base64

        def env(name: str | None) -> str:
            assert name is not None
            value = os.environ.get(name)
            if value is None:
                raise KeyError(f"environment variable {name} is not set")
            return value

        if self.kind == "bearer":
            return {"Authorization": f"Bearer {env(self.token_env)}"}
        pair = f"{env(self.username_env)}:{env(self.password_env)}".encode()
        return {"Authorization": "Basic " + base64.b64encode(pair).decode()}


class RetryPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_attempts: int = Field(default=5, ge=1, le=20)
    base_delay: float = Field(default=0.2, ge=0, le=60)
    max_delay: float = Field(default=10.0, ge=0, le=600)


class BreakerConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    failure_threshold: int = Field(default=5, ge=1, le=1000)
    open_seconds: float = Field(default=30.0, gt=0, le=86_400)


class EntityConfig(BaseModel):
    """One entity of the mapping file to sync, optionally with its own schedule/page size.

    ``parts``: a parallel run of an entity with numbered pages and a total splits its pages
    into this many contiguous ranges synced side by side (in worker processes when the run
    has them), so that a long chain of pages uses more than one core."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[a-z][a-z0-9_]{0,39}$")
    schedule: str | None = None
    page_size: int | None = Field(default=None, ge=1, le=10_000)
    parts: int = Field(default=1, ge=1, le=16)
    active: bool = True

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        return value if value is None else validate_cron(value)


class _RestSource(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,39}$")
    name: str
    active: bool = True
    base_url: str = Field(pattern=r"^https?://")
    auth: AuthConfig | None = None
    mapping: Path
    entities: list[EntityConfig] = Field(min_length=1)
    schedule: str | None = None
    page_size: int = Field(default=500, ge=1, le=10_000)
    max_concurrency: int = Field(default=4, ge=1, le=64)
    timeout_seconds: float = Field(default=10.0, gt=0, le=600)
    retry: RetryPolicy = Field(default_factory=RetryPolicy)
    run_budget_seconds: float = Field(default=1800.0, gt=0, le=86_400)
    breaker: BreakerConfig = Field(default_factory=BreakerConfig)
    stale_after_minutes: int | None = Field(default=None, ge=1)

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        return value if value is None else validate_cron(value)

    @model_validator(mode="after")
    def _unique_entities(self) -> _RestSource:
        names = [e.name for e in self.entities]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"entity listed twice: {', '.join(duplicates)}")
        return self

    def entity(self, name: str) -> EntityConfig:
        for entity in self.entities:
            if entity.name == name:
                return entity
        raise KeyError(f"source {self.code!r} has no entity {name!r}")

    def mapping_path(self) -> Path:
        """The mapping file: as given (absolute or from the working directory), else one of
        the packaged examples (``protheus.yaml``, ``docs_json.yaml``)."""
        if self.mapping.exists():
            return self.mapping
        packaged = PACKAGED_MAPPINGS / self.mapping.name
        if not self.mapping.is_absolute() and packaged.exists():
            return packaged
        raise FileNotFoundError(f"source {self.code!r}: mapping file {self.mapping} not found")


class ProtheusRestSource(_RestSource):
    """A TOTVS Protheus-style REST API (SB1, SB2, SA1, SE1; page/pageSize pagination)."""

    kind: Literal["protheus_rest"]
    writeback_path: str | None = Field(default="/rest/api/v1/movements", pattern=r"^/")
    writeback_storage: str = Field(default="01", max_length=20)  # B2_LOCAL when unaliased


class JsonRestSource(_RestSource):
    """A JSON document service (cursor pagination)."""

    kind: Literal["json_rest"]


RestSource = ProtheusRestSource | JsonRestSource
