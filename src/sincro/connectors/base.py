"""What a connector plugin is: one object per source kind (``sap_files``, ``protheus_rest``,
``json_rest``), built from one abstract base per capability it has.

- :class:`PullSync`: Sincro pulls the ERP's API, entity by entity and page by page, through a
  mapping file.
- :class:`FileIntake`: the ERP drops files into a folder; a watcher waits until each one is
  complete (readiness), then it is ingested.
- :class:`WriteBack`: Sincro sends the movements it originated to the ERP and takes the ERP's
  acknowledgements.

Every plugin also says what the rest of Sincro needs to know about its kind: its config model
(whose ``kind`` literal is the kind's name), its label for people, its Celery beat entries, its
``sincro sync`` commands and the processes ``sincro serve`` starts for it.
:mod:`sincro.connectors.kinds` lists the plugins. Plain classes: nothing registers itself on
import. Heavy modules (the orchestrator, the SAP service) are imported inside the methods, so
reading the registry stays cheap and free of import cycles.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar, get_args

from celery.schedules import crontab
from pydantic import BaseModel

if TYPE_CHECKING:
    import typer

    from sincro.config import Settings
    from sincro.connectors.config import ConnectorsConfig
    from sincro.db import Database

BeatEntries = dict[str, dict[str, Any]]
Command = list[str]


class Source(Protocol):
    """What every source's config model has (the fields the registry reads)."""

    @property
    def code(self) -> str: ...

    @property
    def kind(self) -> str: ...

    @property
    def active(self) -> bool: ...


S = TypeVar("S", bound=Source)


@dataclass(frozen=True)
class StartupJob:
    """A Celery task to queue once the services are up (e.g. a first sync)."""

    task: str
    args: tuple[Any, ...]


@dataclass(frozen=True)
class WriteBackOutcome:
    """What one write-back pass did: new write-backs, sent (or written to the ERP's outbox),
    acknowledged by the ERP, to be tried again, and given up."""

    created: int = 0
    sent: int = 0
    acknowledged: int = 0
    retrying: int = 0
    failed: int = 0


class ConnectorPlugin(ABC, Generic[S]):
    """One source kind. ``config_model`` is its pydantic model in the connectors file; the
    kind's name is that model's ``kind`` literal, so it is written once."""

    task_modules: tuple[str, ...] = ()  # modules of this kind's own Celery tasks

    def __init__(self, config_model: type[S], label: str) -> None:
        self.config_model = config_model
        self.label = label  # for people, pt-BR
        self.kind = kind_of(config_model)

    @property
    def capabilities(self) -> tuple[str, ...]:
        """Names of the capabilities this kind has (``pull_sync``, ``file_intake``, ...)."""
        return tuple(name for name, base in CAPABILITIES.items() if isinstance(self, base))

    @abstractmethod
    def beat_entries(self, source: S) -> BeatEntries:
        """Celery beat entries of one active source of this kind."""

    @abstractmethod
    def register_cli(self, app: typer.Typer) -> None:
        """Add this kind's own ``sincro sync`` commands to ``app``."""

    def serve_commands(self, me: Sequence[str]) -> dict[str, Command]:
        """Child processes ``sincro serve`` starts when an active source of this kind exists
        (``me`` runs the ``sincro`` command)."""
        return {}

    def startup_jobs(self, source: S) -> list[StartupJob]:
        """Tasks to queue for one active source once the services are up."""
        return []

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.kind}>"


class PullSync(ConnectorPlugin[S]):
    """Pull sync: entities read page by page from the ERP's API and applied through a mapping.
    The generic Celery tasks (``sincro.connectors.sync_source``/``sync_entity``) call these
    methods."""

    @abstractmethod
    def plan(
        self, settings: Settings, config: ConnectorsConfig, code: str, trigger: str
    ) -> list[list[str]]:
        """The entities of source ``code`` to sync, in phases (each phase after the one
        before; the entities of one phase may run in parallel)."""

    @abstractmethod
    def sync_entity(
        self, settings: Settings, config: ConnectorsConfig, code: str, entity: str, trigger: str
    ) -> str:
        """Sync one entity of source ``code`` now; returns the run's status."""

    def startup_jobs(self, source: S) -> list[StartupJob]:
        """A first sync as soon as the services are up, rather than at the first schedule."""
        return [StartupJob("sincro.connectors.sync_source", (source.code, "manual"))]


class FileIntake(ConnectorPlugin[S]):
    """File intake: the ERP drops files into an inbox; ``sincro sync watch`` (started by
    ``sincro serve``) and a periodic inbox scan register the complete ones and ingest them."""

    @abstractmethod
    def scan_inbox(self, db: Database, source: S) -> list[int]:
        """Register the complete files of the inbox and queue those waiting; their ids."""

    @abstractmethod
    def ingest_path(self, db: Database, source: S, path: Path) -> Any:
        """Register one file now and ingest it in this process; its outcome."""

    def serve_commands(self, me: Sequence[str]) -> dict[str, Command]:
        """The inbox watcher, as a child process of ``sincro serve``."""
        return {**super().serve_commands(me), "watch": [*me, "sync", "watch"]}


class WriteBack(ConnectorPlugin[S]):
    """Write-back: Sincro-originated movements sent to the ERP, and the ERP's
    acknowledgements taken (``sincro sync writeback --source CODE``)."""

    @abstractmethod
    def write_back(
        self, settings: Settings, config: ConnectorsConfig, code: str
    ) -> WriteBackOutcome:
        """Collect new write-backs of source ``code`` and send the due ones, now."""


CAPABILITIES: dict[str, type[Any]] = {  # abstract classes, for isinstance
    "pull_sync": PullSync,
    "file_intake": FileIntake,
    "write_back": WriteBack,
}


def kind_of(config_model: type[Any]) -> str:
    """The kind a source config model stands for: its ``kind: Literal[...]`` field."""
    if not (isinstance(config_model, type) and issubclass(config_model, BaseModel)):
        raise TypeError(f"{config_model!r} is not a pydantic model")
    field = config_model.model_fields.get("kind")
    values = get_args(field.annotation) if field is not None else ()
    if len(values) != 1 or not isinstance(values[0], str):
        raise TypeError(f"{config_model.__name__}.kind must be a Literal of one kind name")
    return values[0]


def cron(expression: str) -> crontab:
    """A celery crontab from a 5-field cron expression."""
    minute, hour, day_of_month, month_of_year, day_of_week = expression.split()
    return crontab(
        minute=minute,
        hour=hour,
        day_of_month=day_of_month,
        month_of_year=month_of_year,
        day_of_week=day_of_week,
    )
