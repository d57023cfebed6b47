"""Property-based fuzzing of the whole OpenAPI spec: no request, however malformed, gets a 500,
and every answer is one the spec declares (status code, content type, body schema).

schemathesis generates valid and invalid requests for every operation from the spec and
sends them, with an admin key, to the real app over a real SQLite database. The run is seeded
and bounded for CI (well under a minute); ``SINCRO_FUZZ_EXAMPLES`` raises the examples per
operation and mode for a long run (``make bench`` / ``bench/``), ``SINCRO_FUZZ_SEED`` changes
the seed.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, seed, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from sincro import safe_http
from sincro.access import service as access
from sincro.access.models import Role
from sincro.app import create_app
from sincro.config import Settings
from sincro.db import Database
from tests.conftest import wipe
from tests.factories import make_location, make_product, receive

EXAMPLES = int(os.environ.get("SINCRO_FUZZ_EXAMPLES", "6"))
SEED = int(os.environ.get("SINCRO_FUZZ_SEED", "8"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
KEY: dict[str, str] = {}


@pytest.fixture
def api_schema(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[schemathesis.BaseSchema]:
    # webhook URLs are resolved when subscribed: keep the fuzzer's names off the network
    monkeypatch.setattr(safe_http, "resolve_host", _no_dns)
    db = Database(sqlite_url)
    wipe(db)
    with db.write() as s:
        make_location(s, code="LJ0001")
        make_product(s, sku="CEL-000001")
        _, KEY["admin"] = access.create_key(s, "fuzz", Role.admin)
    with db.write() as s:
        receive(s, "CEL-000001", "LJ0001", 50)
    app = create_app(
        Settings(
            database_url=sqlite_url,
            var_dir=tmp_path,
            broker_url=f"sqla+sqlite:///{tmp_path / 'broker.sqlite'}",
        )
    )
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    # the SSE stream never ends by design; its bad inputs are in test_bad_input, the stream
    # itself in tests/feed
    yield schema.exclude(path="/v1/events/stream")
    db.dispose()


def _no_dns(host: str, port: int) -> list[str]:
    raise socket.gaierror(f"{host}: no DNS in this test")


def run_operation(
    operation: schemathesis.APIOperation, mode: schemathesis.GenerationMode, ran: list[str]
) -> None:
    """``EXAMPLES`` seeded cases of one operation in one mode, every check on each answer."""

    @seed(SEED)
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None
    )
    def check(case: schemathesis.Case) -> None:
        ran.append(operation.label)
        case.call_and_validate(headers={"X-API-Key": KEY["admin"]}, checks=CHECKS)

    try:
        check()
    except Unsatisfiable:
        # an operation without parameters or body has no invalid form to generate
        assert mode == schemathesis.GenerationMode.NEGATIVE, operation.label


@pytest.mark.parametrize("mode", list(schemathesis.GenerationMode), ids=lambda m: m.value)
def test_every_operation_answers_as_documented(
    api_schema: schemathesis.BaseSchema, mode: schemathesis.GenerationMode
) -> None:
    """Every operation, valid and invalid inputs (the pytest plugin of schemathesis does not
    support pytest 9 yet, so its strategies are driven directly)."""
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 25
    ran: list[str] = []
    for operation in operations:
        run_operation(operation, mode, ran)
    print(f"fuzz {mode.value}: {len(ran)} cases over {len(operations)} operations")
    if mode == schemathesis.GenerationMode.POSITIVE:
        assert len(set(ran)) == len(operations)


def test_reservation_workflows_follow_the_links(api_schema: schemathesis.BaseSchema) -> None:
    """Stateful: reservations created by the fuzzer are then read, committed, released and
    extended through the OpenAPI links, in random orders, every answer checked."""
    machine = api_schema.include(path_regex="^/v1/reservations").as_state_machine()

    linked: list[int] = []

    class Workflow(machine):  # type: ignore[misc, valid-type]
        def before_call(self, case: schemathesis.Case) -> None:
            # a reservation that can be taken, so the links lead to a live one (the other tests
            # fuzz its body)
            if case.method == "POST" and case.path == "/v1/reservations":
                case.body = {"lines": [{"sku": "CEL-000001", "qty": 1}], "ttl_seconds": 60}

        def get_call_kwargs(self, case: schemathesis.Case) -> dict[str, object]:
            return {"headers": {"X-API-Key": KEY["admin"]}}

        def validate_response(
            self, response: schemathesis.Response, case: schemathesis.Case, **kwargs: object
        ) -> None:
            if "{reservation_id}" in case.path:
                linked.append(response.status_code)
            case.validate_response(response, checks=CHECKS)

    Workflow.run(
        settings=settings(
            max_examples=EXAMPLES,
            stateful_step_count=6,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
            derandomize=True,
        )
    )
    assert linked.count(200) >= 3  # links were followed to live reservations
