"""HTTP client against a real simulated ERP: retries, Retry-After, budget, error taxonomy."""

from __future__ import annotations

import time

import pytest

from sincro.config import Settings
from sincro.connectors.models import SyncRun
from sincro.connectors.orchestrator import run_source
from sincro.connectors.rest.client import Deadline, RestClient, SyncError
from sincro.db import Database
from sincro.simulators.rest import ProtheusSimulator
from tests.connectors.rest.conftest import rest_config

PATH = "/rest/api/v1/SB1"


def client_for(url: str, **overrides: object) -> RestClient:
    source = rest_config(url, **overrides).source("protheus")
    return RestClient(source)  # type: ignore[arg-type]


def test_retry_after_is_honoured(protheus: ProtheusSimulator) -> None:
    protheus.faults.rate_limit = {"every": 2, "retry_after": 1}
    client = client_for(protheus.url)
    client.get_json(PATH, {"page": 1, "pageSize": 5}, Deadline(30))
    started = time.monotonic()
    body = client.get_json(PATH, {"page": 1, "pageSize": 5}, Deadline(30))
    assert time.monotonic() - started >= 1.0
    assert len(body["items"]) == 5
    assert protheus.stats["rate_limited"] == 1


def test_server_errors_are_retried_then_reported(protheus: ProtheusSimulator) -> None:
    protheus.faults.error_rate = 1.0
    client = client_for(protheus.url)
    with pytest.raises(SyncError) as caught:
        client.get_json(PATH, {"page": 1}, Deadline(30))
    assert caught.value.kind == "server_error" and caught.value.retryable
    assert "HTTP 500" in str(caught.value) and "gave up after 3 attempts" in str(caught.value)
    assert protheus.stats["requests"] == 3


def test_client_errors_and_bad_payloads_are_not_retried(protheus: ProtheusSimulator) -> None:
    client = client_for(protheus.url)
    with pytest.raises(SyncError) as caught:
        client.get_json("/rest/api/v1/ZZ9", {}, Deadline(30))
    assert caught.value.kind == "client_error" and not caught.value.retryable
    assert protheus.stats["requests"] == 1


def test_outage_is_a_connection_error(protheus: ProtheusSimulator) -> None:
    protheus.faults.outage = True
    with pytest.raises(SyncError) as caught:
        client_for(protheus.url).get_json(PATH, {}, Deadline(30))
    assert caught.value.kind == "connection" and caught.value.retryable


def test_exhausted_budget_fails_the_run_with_a_clear_error(
    settings: Settings, demo: Database, protheus: ProtheusSimulator
) -> None:
    protheus.faults.rate_limit = {"every": 1, "retry_after": 1}
    config = rest_config(protheus.url, run_budget_seconds=1.5)
    started = time.monotonic()
    result = run_source(settings, config, "protheus", entities=["products"], db=demo)
    assert time.monotonic() - started >= 1.0
    (entity,) = result.entities
    assert entity.status == "failed"
    with demo.read() as session:
        run = session.get(SyncRun, entity.run_id)
        assert run is not None and run.status == "failed" and run.error is not None
        assert run.error.startswith("budget_exhausted: run time budget of 1.5s exhausted")
        assert "rate_limited" in run.error
