"""What a domain contributes to the running system, declared in one place per domain.

Each domain package has a ``domain.py`` with one :class:`Domain` value named ``DOMAIN``. The
composition files (``app.py``, ``worker.py``, ``cli.py``, ``models.py``, the console shell) read
the installed domains from :mod:`sincro.domains` and never name a domain themselves.

Contributions are given as import paths (``"package.module:attribute"``) and resolved only by
the process that needs them: a Celery worker does not import the HTTP routers, the api does not
import the CLI. That keeps start-up cheap and the import graph free of cycles.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class NavEntry:
    """One entry of the console's navigation: a pt-BR label, a route name, who may see it."""

    key: str
    label: str
    route: str
    roles: frozenset[str] = frozenset({"admin"})
    order: int = 100

    def visible_to(self, role: str | None) -> bool:
        return role == "admin" or (role is not None and role in self.roles)


@dataclass(frozen=True, slots=True)
class Domain:
    """A domain's contributions. Every path is ``"module"`` or ``"module:attribute"``.

    - ``models``: modules defining tables (imported so ``Base.metadata`` knows them);
    - ``routers`` / ``console_routers``: FastAPI routers for the API and the console;
    - ``nav``: console navigation entries with the roles that see them;
    - ``task_modules``, ``queues``, ``task_routes`` (task-name glob → queue): Celery;
    - ``beat``: a callable ``(settings) -> dict`` of Celery beat entries;
    - ``cli``: ``(name, "module:typer_app")`` sub-commands of ``sincro``;
    - ``runtime``: a callable ``(state: AppState) -> None`` run once per api process to build
      the domain's long-lived objects (caches, hubs) and register start/stop hooks;
    - ``children``: a callable ``(settings) -> dict[name, argv]`` of extra processes that
      ``sincro serve`` supervises (watchers);
    - ``startup_jobs``: a callable ``(settings) -> None`` run once ``sincro serve`` is ready;
    - ``metrics``: modules defining Prometheus metrics (imported by the api);
    - ``personal_data``: an object with ``export(session, customer_id) -> dict`` and
      ``erase(session, customer_id) -> dict[str, int]`` for what the domain keeps about a
      customer (see :mod:`sincro.privacy`: LGPD export and erasure);
    - ``audit_actions``: the pt-BR label of every audit action the domain records
      (``"<entity>.<verb>" -> label``), shown by the console's "Auditoria".
    """

    name: str
    label: str
    models: tuple[str, ...] = ()
    routers: tuple[str, ...] = ()
    console_routers: tuple[str, ...] = ()
    nav: tuple[NavEntry, ...] = ()
    task_modules: tuple[str, ...] = ()
    queues: tuple[str, ...] = ()
    task_routes: Mapping[str, str] = field(default_factory=dict)
    beat: str | None = None
    cli: tuple[tuple[str, str], ...] = ()
    runtime: str | None = None
    children: str | None = None
    startup_jobs: str | None = None
    metrics: tuple[str, ...] = ()
    personal_data: str | None = None
    audit_actions: Mapping[str, str] = field(default_factory=dict)


def resolve(path: str) -> Any:
    """Import ``"module:attribute"`` (or a bare module) and return the object."""
    module_name, _, attribute = path.partition(":")
    module = importlib.import_module(module_name)
    return getattr(module, attribute) if attribute else module


def resolve_callable(path: str | None) -> Callable[..., Any] | None:
    if path is None:
        return None
    target = resolve(path)
    if not callable(target):
        raise TypeError(f"{path} is not callable")
    return target
