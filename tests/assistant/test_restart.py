"""Nothing a customer wrote is lost when an api process restarts: a real ``sincro api`` on
PostgreSQL answers a stream of customer messages and is killed (SIGKILL, its whole process
group) while they flow; after a new start every message that was answered is in the
transcript with its reply, and a conversation half-way through identification goes on where
it was (its flow state is in the database, not in the process). The second start finds the
fitted intent model cached in its var dir."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from sincro.access.service import Role
from sincro.assistant import model_cache
from sincro.db import Database
from tests.assistant import world
from tests.factories import make_key

pytestmark = pytest.mark.postgres


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start(postgres_url: str, tmp_path: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("SINCRO_")},
        "SINCRO_DATABASE_URL": postgres_url,
        "SINCRO_VAR_DIR": str(tmp_path),
        "SINCRO_BROKER_URL": f"sqla+sqlite:///{tmp_path / 'broker.sqlite'}",
        "SINCRO_AVAILABILITY_WARM_SKUS": "0",
        "SINCRO_LOG_JSON": "false",
    }
    argv = [sys.executable, "-m", "sincro.cli", "api", "--port", str(port), "--workers", "1"]
    return subprocess.Popen(
        argv, env=env, stdout=subprocess.DEVNULL, stderr=log.open("ab"), start_new_session=True
    )


def _up(base: str, key: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text()[-3000:]
        try:
            r = httpx.get(f"{base}/v1/assistant/conversations/0", headers={"X-API-Key": key})
            if r.status_code in (404, 422):
                return
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    raise AssertionError("the api did not answer within 180 s: " + log.read_text()[-3000:])


def _kill(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(30)


def test_a_killed_api_loses_no_answered_message_and_the_flow_goes_on(
    own_postgres: str, tmp_path: Path
) -> None:
    postgres_url = own_postgres
    db = Database(postgres_url)
    ids = world.seed(db)
    with db.write() as s:
        key = make_key(s, Role.channel)
    headers = {"X-API-Key": key}
    port, log = _free_port(), tmp_path / "api.log"
    base = f"http://127.0.0.1:{port}"
    proc = _start(postgres_url, tmp_path, port, log)
    try:
        _up(base, key, proc, log)
        with httpx.Client(base_url=base, headers=headers, timeout=60) as c:
            made = c.post(
                "/v1/reservations",
                json={"lines": [{"sku": world.IPHONE, "qty": 1, "location": "LJ-CPS-C"}],
                      "order_reference": "PED-2026-000901", "customer_id": ids["customer"]},
            )  # fmt: skip
            assert made.status_code == 201, made.text
            started = [c.post("/v1/assistant/conversations", json={"channel": "app"}) for _ in "ab"]
            assert all(r.status_code == 201 for r in started), [r.text for r in started]
            identity, stream = (f"/v1/assistant/conversations/{r.json()['id']}" for r in started)
            asked = c.post(f"{identity}/messages", json={"text": "cade meu pedido?"}).json()
            assert asked["actions"][0]["type"] == "ask_identity", asked
            assert c.post(f"{identity}/messages", json={"text": world.CPF}).status_code == 200

        answered: list[tuple[str, dict[str, Any]]] = []
        enough = threading.Event()

        def customer() -> None:
            with httpx.Client(base_url=base, headers=headers, timeout=30) as c:
                for n in range(10_000):
                    text = f"tem galaxy a05 em niteroi? ({n})"
                    try:
                        r = c.post(f"{stream}/messages", json={"text": text})
                    except httpx.TransportError:
                        return  # the process died under this request: not acknowledged
                    if r.status_code == 200:
                        answered.append((text, r.json()))
                    if len(answered) >= 8:
                        enough.set()

        talking = threading.Thread(target=customer, daemon=True)
        talking.start()
        assert enough.wait(120), log.read_text()[-3000:]
        _kill(proc)  # while the customer keeps writing
        talking.join(60)
        assert not talking.is_alive()
        assert (tmp_path / model_cache.FILE_NAME).is_file()  # the first start cached its model

        proc = _start(postgres_url, tmp_path, port, log)
        _up(base, key, proc, log)
        with httpx.Client(base_url=base, headers=headers, timeout=60) as c:
            transcript = c.get(stream).json()["messages"]
            for text, reply in answered:  # each with the reply the customer was given
                [at] = [i for i, m in enumerate(transcript) if m["text"] == text]
                assert transcript[at]["sender"] == "customer"
                assert (transcript[at + 1]["sender"], transcript[at + 1]["text"]) == (
                    "bot",
                    reply["reply"],
                )
            seqs = [m["seq"] for m in transcript]
            assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
            # the identification begun before the kill goes on: the CPF is remembered
            status = c.post(f"{identity}/messages", json={"text": "12/03/1985"})
            assert status.status_code == 200, status.text
            [order] = status.json()["actions"][0]["data"]["orders"]
            assert order["order_reference"] == "PED-2026-000901"
        assert "assistant classifier loaded from the cache" in log.read_text()
    finally:
        _kill(proc)
