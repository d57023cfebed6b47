"""Settings, read once from the environment (``SINCRO_`` prefix).

Defaults describe the embedded mode: a SQLite file and Celery's SQLAlchemy transport under
``./var``, no Redis. Production sets URLs for PostgreSQL, RabbitMQ and Redis; the code path is
the same, only the URLs differ.
"""

from __future__ import annotations

import os
import secrets
import time
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_SECRET = "sincro-embedded-dev-secret-change-me"  # refused everywhere but loopback
SECRET_FILE = "secret_key"
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
MIN_SECRET_LENGTH = 32


def embedded_secret(var_dir: Path) -> str:
    """The embedded mode's signing secret: random, made on first run, kept in
    ``var/secret_key`` (owner-only), so no two installations share one and nobody can forge a
    console session from a published constant. Concurrent first starts agree on one file."""
    path = var_dir / SECRET_FILE
    if not path.exists():
        var_dir.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as out:
                out.write(secrets.token_urlsafe(48))
    for _ in range(50):  # another process may be between creating and writing the file
        secret = path.read_text().strip()
        if secret:
            return secret
        time.sleep(0.02)
    raise RuntimeError(f"{path} is empty: remove it and start again")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SINCRO_", env_file=".env", extra="ignore")

    mode: Literal["embedded", "production"] = "embedded"
    var_dir: Path = Path("var")
    database_url: str = ""
    broker_url: str = ""
    redis_url: str = ""
    redis_prefix: str = "sincro:"
    events_exchange: str = "sincro.events"
    host: str = "127.0.0.1"
    port: int = 8000
    api_workers: int = 1
    secret_key: str = ""  # embedded: random, kept in var/secret_key; production: required
    log_level: str = "INFO"
    log_json: bool = True

    # a database that is down or silent costs a request seconds: connect (and wait for a
    # pooled connection) within this, run a statement (SQLite: wait for the write lock) within
    # that; long jobs (ERP snapshots, the ledger check) raise their own limit to the third
    database_connect_timeout_seconds: float = Field(default=5.0, gt=0, le=300)
    database_statement_timeout_seconds: float = Field(default=15.0, gt=0, le=3600)
    database_long_statement_timeout_seconds: float = Field(default=3600.0, gt=0)

    default_rate_limit_per_minute: int = Field(default=600_000, ge=1)
    reservation_default_ttl_seconds: int = Field(default=900, ge=1)
    reservation_max_ttl_seconds: int = Field(default=86_400, ge=1)
    feed_poll_interval_seconds: float = Field(default=0.02, gt=0)
    feed_gap_timeout_seconds: float = Field(default=5.0, gt=0)
    expiry_sweep_seconds: float = Field(default=5.0, gt=0)
    webhook_max_attempts: int = Field(default=8, ge=1)
    availability_cache_ttl_seconds: float = Field(default=300.0, gt=0)
    connectors_file: Path | None = None  # YAML list of ERP sources; none: no connectors
    smtp_url: str = ""  # smtp://user:pass@host:port (alerts and, later, messaging)
    alert_from: str = "sincro@localhost"

    @model_validator(mode="after")
    def _fill_embedded_urls(self) -> Settings:
        if not self.database_url:
            self.database_url = f"sqlite:///{(self.var_dir / 'sincro.sqlite').as_posix()}"
        if not self.broker_url:
            self.broker_url = f"sqla+sqlite:///{(self.var_dir / 'broker.sqlite').as_posix()}"
        if self.mode == "production" and (
            self.secret_key in ("", DEFAULT_SECRET) or len(self.secret_key) < MIN_SECRET_LENGTH
        ):
            raise ValueError(
                "SINCRO_SECRET_KEY must be set to a private value of at least "
                f"{MIN_SECRET_LENGTH} characters when SINCRO_MODE=production"
            )
        if self.secret_key == DEFAULT_SECRET and self.host not in LOOPBACK_HOSTS:
            raise ValueError(
                "SINCRO_SECRET_KEY is the published development secret: it is refused on a "
                f"non-loopback address ({self.host}); unset it to use a generated one"
            )
        if not self.secret_key:
            self.secret_key = embedded_secret(self.var_dir)
        return self

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def broker_is_amqp(self) -> bool:
        return self.broker_url.startswith(("amqp", "pyamqp"))


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    settings = Settings()
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    return settings


def reset_settings() -> None:
    """Forget cached settings (tests and the CLI change the environment)."""
    get_settings.cache_clear()
