"""The ops domain's API shapes: ``GET /v1/health/services``."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, Field


class ErrorOut(BaseModel):
    """A log record of level ERROR or above, personal data removed."""

    at: dt.datetime
    level: str
    logger: str
    message: str


class InstanceOut(BaseModel):
    """One process (``host:pid``) and what it last reported."""

    instance: str
    kind: str = Field(description="api, worker, beat, relay, watcher, signup, …")
    host: str
    pid: int
    parent: str | None = Field(description="A worker pool process: its worker node")
    status: Literal["ok", "stale", "down", "stopped"] = Field(
        description="stale after 3 missed beats; down after SINCRO_HEALTH_DOWN_AFTER_SECONDS"
    )
    version: str
    queues: list[str]
    started_at: dt.datetime
    last_seen: dt.datetime
    stopped_at: dt.datetime | None
    silent_seconds: float
    errors: list[ErrorOut]
    figures: dict[str, float]


class DepthPoint(BaseModel):
    at: dt.datetime
    depth: int


class QueueOut(BaseModel):
    """A broker queue: latest depth, whether it is backed up, and its recent samples."""

    queue: str
    depth: int
    sampled_at: dt.datetime
    above_limit_since: dt.datetime | None
    backed_up: bool = Field(description="above the limit for SINCRO_HEALTH_QUEUE_BACKLOG_SECONDS")
    history: list[DepthPoint]


class FigureOut(BaseModel):
    """A Prometheus figure a domain declared, combined over the live instances reporting it."""

    key: str
    label: str
    kind: Literal["value", "rate"]
    unit: str
    value: float
    instances: int


class ServicesOut(BaseModel):
    generated_at: dt.datetime
    queue_limit: int
    instances: list[InstanceOut]
    queues: list[QueueOut]
    figures: list[FigureOut]
