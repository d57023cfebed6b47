"""JSON logs on stderr (one object per line), or plain text for people at a terminal.

:func:`log_config` is the one description (a :func:`logging.config.dictConfig` dictionary);
:func:`configure_logging` applies it to this process, and ``sincro api`` hands it to uvicorn,
which applies it again in each worker process it spawns: a spawned process inherits no
logging set-up, and without this an api worker's errors (an unhandled exception's traceback
included) were written nowhere.
"""

from __future__ import annotations

import logging.config
from typing import Any

NOISY = ("uvicorn.access", "httpx", "kombu", "amqp")


def log_config(level: str = "INFO", json_logs: bool = True) -> dict[str, Any]:
    """Every record of ``level`` and above to stderr, as JSON lines or plain text; the noisy
    libraries' loggers from WARNING. Loggers created before stay enabled."""
    formatter: dict[str, Any] = (
        {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        }
        if json_logs
        else {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"sincro": formatter},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
                "formatter": "sincro",
            }
        },
        "root": {"level": level.upper(), "handlers": ["stderr"]},
        "loggers": {name: {"level": "WARNING"} for name in NOISY},
    }


def configure_logging(level: str = "INFO", json_logs: bool = True) -> None:
    logging.config.dictConfig(log_config(level, json_logs))
