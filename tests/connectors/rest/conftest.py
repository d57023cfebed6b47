"""Fixtures of the REST connector tests: a small demo operator in the database, simulated ERPs
on free local ports, and a connectors configuration pointing at them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from sincro.config import Settings
from sincro.connectors.config import ConnectorsConfig
from sincro.connectors.orchestrator import ensure_source
from sincro.db import Database
from sincro.demo.loader import load_demo
from sincro.simulators.rest import (
    DocumentsSimulator,
    ProtheusSimulator,
    alias_demo_locations,
)

PRODUCTS, STORES, DCS, CUSTOMERS, DOCUMENTS = 20, 4, 1, 120, 150


@pytest.fixture
def demo(db: Database) -> Database:
    """The demo operator, small: 4 stores + 1 DC, 20 products, opening stock."""
    db.dispose()
    load_demo(db.url, stores=STORES, dcs=DCS, products=PRODUCTS)
    return db


@pytest.fixture
def protheus() -> Iterator[ProtheusSimulator]:
    sim = ProtheusSimulator(products=PRODUCTS, stores=STORES, dcs=DCS, customers=CUSTOMERS)
    with sim:
        yield sim


@pytest.fixture
def documents() -> Iterator[DocumentsSimulator]:
    sim = DocumentsSimulator(documents=DOCUMENTS, products=PRODUCTS)
    with sim:
        yield sim


def rest_config(
    protheus_url: str | None = None,
    documents_url: str | None = None,
    **overrides: Any,
) -> ConnectorsConfig:
    """Sources for the simulators; ``overrides`` apply to every source."""
    common: dict[str, Any] = {
        "page_size": 10,
        "max_concurrency": 4,
        "timeout_seconds": 15,  # a loaded CI machine must not turn a slow answer into a failure
        "retry": {"max_attempts": 3, "base_delay": 0.01, "max_delay": 0.05},
        "breaker": {"failure_threshold": 50, "open_seconds": 30},
    }
    common.update(overrides)
    sources = []
    if protheus_url:
        sources.append(
            {
                "code": "protheus",
                "kind": "protheus_rest",
                "name": "Protheus simulado",
                "base_url": protheus_url,
                "mapping": "protheus.yaml",
                "schedule": "*/15 * * * *",
                "entities": [
                    {"name": "products", "schedule": "0 * * * *", "page_size": 50},
                    {"name": "stock"},
                    {"name": "customers"},
                    {"name": "receivables"},
                ],
                **common,
            }
        )
    if documents_url:
        sources.append(
            {
                "code": "docs",
                "kind": "json_rest",
                "name": "Documentos",
                "base_url": documents_url,
                "mapping": "docs_json.yaml",
                "entities": [{"name": "documents"}],
                **common,
            }
        )
    return ConnectorsConfig.model_validate({"sources": sources})


def alias_locations(db: Database, config: ConnectorsConfig, source: str = "protheus") -> None:
    with db.write() as session:
        ensure_source(session, config.source(source))
        alias_demo_locations(session, source)


@pytest.fixture
def fast_settings(settings: Settings) -> Settings:
    return settings
