"""The demo's pieces with no system package: `sincro mail imap` (pymap, embedded),
`sincro signup demo-reply` and `sincro signup watch --once`, as child processes, against the
real SMTP sink and an embedded SQLite database."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from imapclient import IMAPClient
from sqlalchemy import select

from sincro.config import Settings
from sincro.customers.models import Customer
from sincro.db import Database
from sincro.signup.cli import serve_commands
from tests.services import migrated_sqlite, port_open
from tests.smtp_sink import free_port, running_sink

SINCRO = [sys.executable, "-m", "sincro.cli"]


def run(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([*SINCRO, *args], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_a_sample_reply_is_processed_on_the_embedded_imap_server(
    tmp_path: Path, sqlite_template: Path
) -> None:
    pytest.importorskip("pymap")
    database_url = migrated_sqlite(sqlite_template, tmp_path)
    imap_port = free_port()
    with running_sink() as sink:
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(sys.path),
            "SINCRO_MODE": "embedded",
            "SINCRO_VAR_DIR": str(tmp_path),
            "SINCRO_DATABASE_URL": database_url,
            "SINCRO_MAILBOX_IMAP_PORT": str(imap_port),
            "SINCRO_SMTP_URL": f"smtp://127.0.0.1:{sink.port}",
            "SINCRO_SIGNUP_IMAP_URL": "",
            "SINCRO_LOG_JSON": "false",
        }
        server = subprocess.Popen(
            [*SINCRO, "mail", "imap"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        try:
            deadline = time.monotonic() + 20
            while not port_open("127.0.0.1", imap_port):
                assert server.poll() is None, server.communicate()[0].decode()
                assert time.monotonic() < deadline, "pymap did not start"
                time.sleep(0.1)
            run(env, "signup", "demo-reply")
            output = run(env, "signup", "watch", "--once")
            assert "1 seen, 1 recorded, 1 answered, 1 moved" in output
            with IMAPClient("127.0.0.1", port=imap_port, ssl=False, timeout=10) as client:
                client.login("cadastro", "cadastro")
                assert client.folder_status("INBOX", [b"MESSAGES"])[b"MESSAGES"] == 0
                assert client.folder_status("Processados", [b"MESSAGES"])[b"MESSAGES"] == 1
        finally:
            server.send_signal(signal.SIGTERM)
            server.communicate(timeout=20)
    db = Database(database_url)
    with db.read() as session:
        [customer] = session.scalars(select(Customer)).all()
    db.dispose()
    assert (customer.name, customer.city, customer.state) == (
        "Maria Aparecida dos Santos",
        "Campinas",
        "SP",
    )
    [answer] = sink.messages
    assert answer["To"] == "maria.santos@example.com"
    assert "Recebemos o seu cadastro" in answer.get_content()


def test_serve_runs_the_watcher_only_when_an_inbox_is_configured(tmp_path: Path) -> None:
    assert serve_commands(Settings(var_dir=tmp_path, signup_imap_url="")) == {}
    commands = serve_commands(
        Settings(var_dir=tmp_path, signup_imap_url="imap://u:p@127.0.0.1:143/INBOX"), ["sincro"]
    )
    assert commands == {"signup": ["sincro", "signup", "watch"]}


def test_invitations_are_sent_from_the_sign_up_address(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from sincro.config import reset_settings
    from sincro.signup.cli import signup_app

    with running_sink() as sink:
        monkeypatch.setenv("SINCRO_VAR_DIR", str(tmp_path))
        monkeypatch.setenv("SINCRO_SMTP_URL", f"smtp://127.0.0.1:{sink.port}")
        monkeypatch.setenv("SINCRO_SIGNUP_ADDRESS", "Cadastro <cadastro@operadora.test>")
        reset_settings()
        runner = CliRunner()
        done = runner.invoke(signup_app, ["invite", "a@cliente.test", "b@cliente.test"])
        assert done.exit_code == 0, done.output
        assert runner.invoke(signup_app, ["invite", "nao-e-email"]).exit_code == 1
    assert sorted(str(m["To"]) for m in sink.messages) == ["a@cliente.test", "b@cliente.test"]
    invitation = sink.messages[0]
    assert invitation["From"] == "Cadastro <cadastro@operadora.test>"
    assert "Nome completo:" in invitation.get_content()


def test_serve_runs_the_demo_mail_servers_only_when_asked_in_embedded_mode(
    tmp_path: Path,
) -> None:
    from sincro.mailbox.cli import serve_commands as mail_commands

    assert mail_commands(Settings(var_dir=tmp_path)) == {}
    asked = mail_commands(Settings(var_dir=tmp_path, mailbox_demo_servers=True), ["sincro"])
    assert asked == {
        "mail-sink": ["sincro", "mail", "sink", "--keep-bodies", "--report-seconds", "60"],
        "mail-imap": ["sincro", "mail", "imap"],
    }
