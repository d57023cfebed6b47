"""``GET /v1/search`` over HTTP, and ``sincro search`` (the CLI sub-app), on both databases."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from sincro.access.models import Role
from sincro.app import create_app
from sincro.catalog import search
from sincro.catalog.search_cli import search_app
from sincro.config import Settings, reset_settings
from sincro.db import Database, reset_databases
from tests.catalog.support import seed_catalog
from tests.factories import make_key


@pytest.fixture
def api(db: Database, settings: Settings) -> Iterator[tuple[TestClient, dict[str, str], dict]]:
    search.clear_index(db)
    with db.write() as session:
        ids = seed_catalog(session)
        key = make_key(session, Role.channel)
    with TestClient(create_app(settings)) as client:
        yield client, {"X-API-Key": key}, ids
    search.clear_index(db)


def test_search_over_http(api: tuple[TestClient, dict[str, str], dict]) -> None:
    client, headers, ids = api
    response = client.get("/v1/search", params={"q": "configuracao roteador"}, headers=headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["count"] == len(body["results"]) >= 1
    top = body["results"][0]
    assert {k: top[k] for k in ("type", "id", "sku", "kind", "version", "superseded")} == {
        "type": "document",
        "id": ids["router_manual"],
        "sku": "ROT-AX3000",
        "kind": "manual",
        "version": 1,
        "superseded": False,
    }
    assert "<mark>Configuração</mark>" in top["snippet_html"]
    assert top["title_html"] == "Manual do <mark>roteador</mark> Wi-Fi 6 AX3000"
    assert top["score"] > 0 and top["effective_date"] == "2026-03-01"
    assert [t["term"] for t in body["terms"]] == ["configuracao", "roteador"]


def test_typo_and_kind_over_http(api: tuple[TestClient, dict[str, str], dict]) -> None:
    client, headers, ids = api
    body = client.get("/v1/search", params={"q": "samsng", "kind": "product"}, headers=headers)
    assert body.status_code == 200
    result = body.json()
    assert [(r["type"], r["id"]) for r in result["results"]] == [("product", ids["galaxy"])]
    assert result["terms"][0]["corrections"] == ["samsung"]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"q": ""}, "q"),
        ({"q": "   "}, "q"),
        ({"q": "x" * 201}, "q"),
        ({}, "q"),
        ({"q": "chip", "kind": "video"}, "kind"),
        ({"q": "chip", "limit": "0"}, "limit"),
        ({"q": "chip", "limit": "51"}, "limit"),
    ],
)
def test_bad_queries_are_422_naming_the_field(
    api: tuple[TestClient, dict[str, str], dict], params: dict[str, str], field: str
) -> None:
    client, headers, _ = api
    response = client.get("/v1/search", params=params, headers=headers)
    assert response.status_code == 422
    assert response.json()["error"]["field"] == field


def test_search_needs_a_key(api: tuple[TestClient, dict[str, str], dict]) -> None:
    client, _, _ = api
    assert client.get("/v1/search", params={"q": "chip"}).status_code == 401


def test_cli_reindex_and_query(
    db: Database, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    search.clear_index(db)
    with db.write() as session:
        seed_catalog(session)
    search.clear_index(db)
    monkeypatch.setenv("SINCRO_DATABASE_URL", database_url)
    monkeypatch.setenv("SINCRO_VAR_DIR", str(tmp_path))
    reset_settings()
    reset_databases()
    try:
        runner = CliRunner()
        result = runner.invoke(search_app, ["reindex", "--batch", "7"])
        assert result.exit_code == 0, result.output
        assert "indexed 17 documents and 3 products" in result.output
        result = runner.invoke(search_app, ["query", "carregdor"])
        assert result.exit_code == 0, result.output
        assert "also: carregador" in result.output and "CAR-25W" in result.output
    finally:
        reset_settings()
        reset_databases()
        search.clear_index(db)
