"""The registry of source kinds: what each plugin declares, and that beat entries, ``sincro
serve``'s children and first jobs, the console's labels and the config union come from it."""

from __future__ import annotations

import ast
import typing
from pathlib import Path
from typing import Any

import pytest

import sincro.connectors
from sincro.connectors import kinds, schedule
from sincro.connectors.base import PullSync, WriteBack
from sincro.connectors.config import ConnectorsConfig, SourceConfig
from sincro.connectors.models import SourceKind
from sincro.connectors.sap_files.plugin import SAP_FILES

EXPECTED = {
    "sap_files": ("SAP (arquivos)", ("file_intake", "write_back")),
    "protheus_rest": ("Protheus (REST)", ("pull_sync", "write_back")),
    "json_rest": ("REST (JSON)", ("pull_sync",)),
}


def config(tmp_path: Path, *, sap_active: bool = True, rest: bool = True) -> ConnectorsConfig:
    rest_common: dict[str, Any] = {"mapping": "protheus.yaml", "base_url": "http://127.0.0.1:1"}
    sources: list[dict[str, Any]] = [
        {
            "code": "sap",
            "kind": "sap_files",
            "name": "SAP",
            "active": sap_active,
            "inbox": str(tmp_path / "in"),
            "outbox": str(tmp_path / "out"),
        }
    ]
    if rest:
        sources += [
            {
                "code": "protheus",
                "kind": "protheus_rest",
                "name": "Protheus",
                "schedule": "*/15 * * * *",
                "entities": [{"name": "products"}],
                **rest_common,
            },
            {
                "code": "docs",
                "kind": "json_rest",
                "name": "Docs",
                "entities": [{"name": "documents", "schedule": "0 * * * *"}],
                **rest_common,
            },
        ]
    return ConnectorsConfig.model_validate({"sources": sources})


def test_every_kind_has_a_label_a_config_model_and_its_capabilities() -> None:
    assert {k: (p.label, p.capabilities) for k, p in kinds.KINDS.items()} == EXPECTED
    for kind, plugin in kinds.KINDS.items():
        assert plugin.config_model.model_fields["kind"].annotation == typing.Literal[kind]
    assert kinds.labels()["sap_files"] == "SAP (arquivos)"


def test_every_task_module_of_the_kinds_is_importable() -> None:
    import importlib

    modules = kinds.task_modules()
    assert modules[0] == "sincro.connectors.tasks"
    assert "sincro.connectors.sap_files.tasks" in modules
    for name in modules:
        importlib.import_module(name)


def test_the_config_union_and_the_kind_enum_agree_with_the_registry() -> None:
    union = typing.get_args(typing.get_args(SourceConfig)[0])
    assert set(union) == {p.config_model for p in kinds.PLUGINS}
    assert {k.value for k in SourceKind} == set(kinds.KINDS)


def test_an_unknown_kind_is_a_clear_error() -> None:
    with pytest.raises(kinds.UnknownKind, match=r"unknown connector kind 'odoo_rest' \(known: "):
        kinds.plugin("odoo_rest")


def test_beat_entries_come_from_the_active_sources_plugins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    entries = schedule.beat_entries(config=config(tmp_path))
    assert entries["sap-sap-scan-inbox"]["args"] == ("sap",)
    assert entries["sap-sap-writeback-flush"]["task"] == "sincro.connectors.writeback.flush"
    assert entries["sync-protheus"]["task"] == "sincro.connectors.sync_source"
    assert entries["writeback-protheus"]["task"] == "sincro.connectors.rest_writeback"
    assert entries["sync-docs-documents"]["args"] == ("docs", "documents", "schedule")
    assert "writeback-docs" not in entries and "sync-docs" not in entries
    inactive = schedule.beat_entries(config=config(tmp_path, sap_active=False))
    assert not any(name.startswith("sap-") for name in inactive)
    monkeypatch.setattr(SAP_FILES, "beat_entries", lambda source: {f"x-{source.code}": {}})
    assert "x-sap" in schedule.beat_entries(config=config(tmp_path))


def test_serve_starts_the_watcher_and_first_syncs_only_for_configured_kinds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def with_config(cfg: ConnectorsConfig) -> None:
        monkeypatch.setattr(kinds, "_config", lambda settings: cfg)

    with_config(config(tmp_path))
    assert kinds.serve_commands(me=["sincro"]) == {"watch": ["sincro", "sync", "watch"]}
    jobs = [(j.task, j.args) for j in kinds.startup_jobs()]
    assert jobs == [
        ("sincro.connectors.sync_source", ("protheus", "manual")),
        ("sincro.connectors.sync_source", ("docs", "manual")),
    ]
    with_config(config(tmp_path, sap_active=False))
    assert kinds.serve_commands(me=["sincro"]) == {}
    with_config(config(tmp_path, rest=False))
    assert kinds.startup_jobs() == []


def test_sources_are_found_by_capability(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    pulled = [s.code for _, s in kinds.active_sources(cfg, PullSync)]
    written = [s.code for _, s in kinds.active_sources(cfg, WriteBack)]
    assert (pulled, written) == (["protheus", "docs"], ["sap", "protheus"])


def test_production_connector_code_imports_neither_the_simulators_nor_the_demo() -> None:
    root = Path(sincro.connectors.__file__).parent
    allowed: dict[Path, set[str]] = {}
    found: dict[Path, set[str]] = {}
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            bad = {n for n in names if n.startswith(("sincro.simulators", "sincro.demo"))}
            if bad - allowed.get(path, set()):
                found.setdefault(path, set()).update(bad)
    assert found == {}


def test_a_plugin_takes_its_kind_from_its_config_models_literal() -> None:
    from pydantic import BaseModel

    from sincro.connectors.base import kind_of

    class Loose(BaseModel):
        kind: str

    with pytest.raises(TypeError, match=r"Loose\.kind must be a Literal"):
        kind_of(Loose)
    with pytest.raises(TypeError, match="not a pydantic model"):
        kind_of(dict)


def test_the_connectors_domain_declares_every_kinds_task_module() -> None:
    from sincro.connectors.domain import DOMAIN

    assert set(kinds.task_modules()) <= set(DOMAIN.task_modules)
