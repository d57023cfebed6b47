"""Settings, read once from the environment (``SINCRO_`` prefix).

Defaults describe the embedded mode: a SQLite file and Celery's SQLAlchemy transport under
``./var``, no Redis. Production sets URLs for PostgreSQL, RabbitMQ and Redis; the code path is
the same, only the URLs differ.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_SECRET = "sincro-embedded-dev-secret-change-me"


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
    secret_key: str = DEFAULT_SECRET
    log_level: str = "INFO"
    log_json: bool = True

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
        if self.mode == "production" and self.secret_key == DEFAULT_SECRET:
            raise ValueError(
                "SINCRO_SECRET_KEY must be set to a private value when SINCRO_MODE=production"
            )
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
