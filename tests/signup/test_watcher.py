"""The sign-up service end to end: a private dovecot holds the inbox, the real SMTP sink
receives the answers, the customers service registers on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from email.message import EmailMessage
from typing import Any

import pytest
from imapclient import IMAPClient
from sqlalchemy import select

from sincro.config import Settings
from sincro.customers import service as customers
from sincro.customers.models import Customer
from sincro.db import Database
from sincro.mail import Mailer, SmtpSettings
from sincro.signup.models import SignupMessage
from sincro.signup.watcher import ImapTarget, SignupWatcher
from tests.imap_server import Dovecot, ImapServer, running_dovecot_server
from tests.smtp_sink import SmtpSink, free_port, running_sink

SIGNUP = "cadastro@operadora.test"
CPF = "529.982.247-25"


@pytest.fixture(scope="module")
def dovecot() -> Iterator[Dovecot]:
    with running_dovecot_server() as server:
        yield server


@pytest.fixture
def imap(dovecot: Dovecot) -> ImapServer:
    return dovecot.new_user()  # a mailbox of this test's own


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    with running_sink() as server:
        yield server


@pytest.fixture
def signup_settings(settings: Settings, imap: ImapServer, sink: SmtpSink) -> Settings:
    return settings.model_copy(
        update={
            "signup_imap_url": imap.url(),
            "smtp_url": f"smtp://127.0.0.1:{sink.port}",
            "signup_address": SIGNUP,
            "signup_max_message_bytes": 16_384,
            "signup_poll_seconds": 1.0,
        }
    )


@pytest.fixture
def watcher(signup_settings: Settings, db: Database) -> Iterator[SignupWatcher]:
    smtp = SmtpSettings.from_url(signup_settings.smtp_url, sender=SIGNUP)
    with Mailer(smtp) as mailer:
        yield SignupWatcher(
            signup_settings, db, ImapTarget.from_url(signup_settings.signup_imap_url), mailer
        )


def deliver(imap: ImapServer, raw: bytes, folder: str = "INBOX") -> None:
    with IMAPClient(imap.host, port=imap.port, ssl=False, timeout=10) as client:
        client.login(imap.user, imap.password)
        client.append(folder, raw)


def folder_counts(imap: ImapServer, *folders: str) -> dict[str, int]:
    with IMAPClient(imap.host, port=imap.port, ssl=False, timeout=10) as client:
        client.login(imap.user, imap.password)
        return {f: int(client.folder_status(f, [b"MESSAGES"])[b"MESSAGES"]) for f in folders}


def reply(
    body: str,
    *,
    message_id: str = "<resposta-1@cliente.test>",
    sender: str = "Joana Prado <joana.prado@cliente.test>",
    extra: str = "",
) -> bytes:
    return (
        f"From: {sender}\r\nTo: {SIGNUP}\r\nSubject: Re: Convite para cadastro\r\n"
        f"Message-ID: {message_id}\r\nReferences: <convite-9@operadora.test>\r\n{extra}"
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
        "Content-Transfer-Encoding: 8bit\r\n\r\n" + body.replace("\n", "\r\n")
    ).encode()


COMPLETE = f"""Boa tarde!

Nome completo: Joana Prado Ribeiro
CPF: {CPF}
Cidade/UF: Campinas/SP
Plano de interesse: Controle 20GB
Receber ofertas por e-mail (sim/não): não

Em 1 de dez. de 2026, Operadora <{SIGNUP}> escreveu:
> Nome completo:
> CPF:
"""


def run_round(watcher: SignupWatcher) -> Any:
    client = watcher.connect()
    try:
        return watcher.process_inbox(client)
    finally:
        client.logout()


def rows(db: Database) -> list[SignupMessage]:
    with db.read() as session:
        return list(session.scalars(select(SignupMessage).order_by(SignupMessage.id)))


def registered(db: Database) -> list[Customer]:
    with db.read() as session:
        return list(session.scalars(select(Customer).order_by(Customer.id)))


def test_a_complete_reply_registers_with_consent_answers_threaded_and_moves(
    watcher: SignupWatcher, imap: ImapServer, sink: SmtpSink, db: Database
) -> None:
    deliver(imap, reply(COMPLETE))
    stats = run_round(watcher)
    assert (stats.recorded, stats.replied, stats.moved) == (1, 1, 1)

    [customer] = registered(db)
    assert (customer.name, customer.document, customer.email) == (
        "Joana Prado Ribeiro",
        "52998224725",
        "joana.prado@cliente.test",
    )
    assert (customer.city, customer.state, customer.plan) == ("Campinas", "SP", "Controle 20GB")
    with db.read() as session:
        history = customers.consent_history(session, customer.id)
    by_purpose = {event.purpose: event for event in history}
    assert by_purpose["service"].granted is True
    assert by_purpose["marketing"].granted is False  # "não" to offers is kept as a refusal
    assert "<resposta-1@cliente.test>" in by_purpose["service"].evidence
    assert by_purpose["service"].source == "signup-mail"

    [answer] = sink.messages
    assert answer["To"] == "joana.prado@cliente.test"
    assert answer["In-Reply-To"] == "<resposta-1@cliente.test>"
    assert answer["References"] == "<convite-9@operadora.test> <resposta-1@cliente.test>"
    assert answer["Auto-Submitted"] == "auto-replied"
    assert answer["Subject"] == "Re: Convite para cadastro"
    text = answer.get_content()
    assert "Recebemos o seu cadastro" in text and "Campinas/SP" in text
    assert "529.982.247-25" not in text and "52998224725" not in text  # CPF masked
    [row] = rows(db)
    assert (row.outcome, row.customer_id, row.reply_message_id) == (
        "registered",
        customer.id,
        answer["Message-ID"],
    )
    assert row.replied_at is not None
    assert folder_counts(imap, "INBOX", "Processados") == {"INBOX": 0, "Processados": 1}


def test_an_incomplete_reply_names_what_is_missing_and_registers_nothing(
    watcher: SignupWatcher, imap: ImapServer, sink: SmtpSink, db: Database
) -> None:
    deliver(imap, reply("Oi, quero me cadastrar. Meu nome é Joana Prado e moro em Campinas."))
    run_round(watcher)
    assert registered(db) == []
    [answer] = sink.messages
    assert answer["X-Sincro-Missing"] == "CPF, UF"
    text = answer.get_content()
    assert "Faltou informar o seu CPF." in text
    assert "Faltou informar a UF (estado) da sua cidade." in text
    assert "Nome completo:" in text  # the form to fill in
    assert [r.outcome for r in rows(db)] == ["incomplete"]
    assert folder_counts(imap, "INBOX", "Processados") == {"INBOX": 0, "Processados": 1}


def test_an_invalid_cpf_is_named(
    watcher: SignupWatcher, imap: ImapServer, sink: SmtpSink, db: Database
) -> None:
    deliver(imap, reply(COMPLETE.replace(CPF, "529.982.247-26")))
    run_round(watcher)
    assert registered(db) == []
    [answer] = sink.messages
    assert "O CPF informado não é válido" in answer.get_content()
    assert [(r.outcome, r.problems) for r in rows(db)] == [("invalid", ["document"])]


def test_the_same_message_id_delivered_twice_is_handled_once(
    watcher: SignupWatcher, imap: ImapServer, sink: SmtpSink, db: Database
) -> None:
    deliver(imap, reply(COMPLETE))
    deliver(imap, reply(COMPLETE))
    run_round(watcher)
    deliver(imap, reply(COMPLETE))  # a third copy, after the first round
    run_round(watcher)
    assert len(registered(db)) == 1
    assert len(rows(db)) == 1
    assert len(sink.messages) == 1
    assert folder_counts(imap, "INBOX", "Processados") == {"INBOX": 0, "Processados": 3}


def test_a_crash_before_the_move_resumes_without_a_second_registration_or_answer(
    watcher: SignupWatcher,
    imap: ImapServer,
    sink: SmtpSink,
    db: Database,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    deliver(imap, reply(COMPLETE))

    def crash(client: Any, uids: Any) -> None:
        raise RuntimeError("killed between the answer and the move")

    monkeypatch.setattr(watcher, "move", crash)
    with pytest.raises(RuntimeError):
        run_round(watcher)
    assert len(registered(db)) == 1 and len(sink.messages) == 1
    assert folder_counts(imap, "INBOX") == {"INBOX": 1}  # still there: the move never happened

    monkeypatch.undo()
    stats = run_round(watcher)
    assert (stats.recorded, stats.replied, stats.moved) == (0, 0, 1)
    assert len(registered(db)) == 1
    assert len(sink.messages) == 1
    assert folder_counts(imap, "INBOX", "Processados") == {"INBOX": 0, "Processados": 1}


def test_a_crash_before_the_answer_sends_it_once_on_restart(
    watcher: SignupWatcher,
    imap: ImapServer,
    sink: SmtpSink,
    db: Database,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    deliver(imap, reply(COMPLETE))

    def crash(message: EmailMessage) -> Any:
        raise RuntimeError("killed after the registration committed")

    monkeypatch.setattr(watcher.mailer, "send", crash)
    with pytest.raises(RuntimeError):
        run_round(watcher)
    [row] = rows(db)
    assert row.outcome == "registered" and row.replied_at is None
    monkeypatch.undo()
    run_round(watcher)
    assert len(registered(db)) == 1
    [answer] = sink.messages
    assert answer["Message-ID"] == row.reply_message_id  # the one chosen before the crash
    assert folder_counts(imap, "INBOX", "Processados") == {"INBOX": 0, "Processados": 1}


@pytest.mark.parametrize(
    "extra",
    [
        "Auto-Submitted: auto-replied\r\n",
        "Precedence: bulk\r\n",
        "Return-Path: <>\r\n",
    ],
)
def test_auto_replies_and_bounces_are_never_answered(
    watcher: SignupWatcher, imap: ImapServer, sink: SmtpSink, db: Database, extra: str
) -> None:
    deliver(imap, reply("Estou de férias até segunda.\n" + COMPLETE, extra=extra))
    run_round(watcher)
    assert sink.messages == []
    assert registered(db) == []
    assert [r.outcome for r in rows(db)] == ["ignored"]
    assert folder_counts(imap, "INBOX", "Processados") == {"INBOX": 0, "Processados": 1}


def test_an_oversized_message_is_refused_unread(
    watcher: SignupWatcher, imap: ImapServer, sink: SmtpSink, db: Database
) -> None:
    deliver(imap, reply(COMPLETE + "\n" + "x" * 40_000))
    run_round(watcher)
    assert registered(db) == []  # its (valid) details were never read
    [answer] = sink.messages
    assert "passou do tamanho" in answer.get_content()
    assert [r.outcome for r in rows(db)] == ["refused"]
    assert folder_counts(imap, "INBOX", "Processados") == {"INBOX": 0, "Processados": 1}


def test_answers_to_one_address_are_rate_limited(
    watcher: SignupWatcher, imap: ImapServer, sink: SmtpSink, db: Database
) -> None:
    watcher.settings = watcher.settings.model_copy(
        update={"signup_replies_per_address_per_hour": 2}
    )
    for n in range(4):
        deliver(imap, reply("oi", message_id=f"<loop-{n}@cliente.test>"))
    run_round(watcher)
    assert len(sink.messages) == 2
    assert len(rows(db)) == 4
    assert folder_counts(imap, "INBOX") == {"INBOX": 0}


def test_a_temporary_smtp_failure_keeps_the_message_for_the_next_round(
    watcher: SignupWatcher, imap: ImapServer, sink: SmtpSink, db: Database
) -> None:
    deliver(imap, reply(COMPLETE, sender="Joana <temp.joana@cliente.test>"))
    stats = run_round(watcher)
    assert (stats.recorded, stats.deferred, stats.moved) == (1, 1, 0)
    assert folder_counts(imap, "INBOX") == {"INBOX": 1}
    stats = run_round(watcher)  # the sink still refuses temp* addresses
    assert (stats.recorded, stats.deferred) == (0, 1)
    assert len(registered(db)) == 1


def watch_in_thread(watcher: SignupWatcher) -> tuple[threading.Event, threading.Thread]:
    stop = threading.Event()
    thread = threading.Thread(target=watcher.run, args=(stop,), daemon=True)
    thread.start()
    return stop, thread


def wait_for(condition: Any, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def test_idle_wakes_the_watcher_as_soon_as_mail_arrives(
    watcher: SignupWatcher, imap: ImapServer, sink: SmtpSink, db: Database
) -> None:
    watcher.settings = watcher.settings.model_copy(update={"signup_poll_seconds": 60.0})
    stop, thread = watch_in_thread(watcher)
    try:
        time.sleep(0.5)  # connected, inbox empty, idling
        deliver(imap, reply(COMPLETE))
        assert wait_for(lambda: len(sink.messages) == 1, 8), "IDLE did not wake the watcher"
        assert wait_for(lambda: folder_counts(imap, "INBOX") == {"INBOX": 0}, 5)
    finally:
        stop.set()
        thread.join(10)
    assert not thread.is_alive()
    assert len(registered(db)) == 1


def test_without_idle_the_watcher_polls(
    watcher: SignupWatcher,
    imap: ImapServer,
    sink: SmtpSink,
    db: Database,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from imapclient import IMAPClient as Client

    original = Client.has_capability
    monkeypatch.setattr(
        Client, "has_capability", lambda self, cap: cap != "IDLE" and original(self, cap)
    )
    watcher.settings = watcher.settings.model_copy(update={"signup_poll_seconds": 0.3})
    stop, thread = watch_in_thread(watcher)
    try:
        time.sleep(0.5)
        deliver(imap, reply(COMPLETE))
        assert wait_for(lambda: len(sink.messages) == 1, 8), "polling did not find the mail"
    finally:
        stop.set()
        thread.join(10)
    assert not thread.is_alive()


def test_the_watcher_retries_while_the_server_is_unreachable(
    watcher: SignupWatcher, imap: ImapServer, sink: SmtpSink, db: Database
) -> None:
    nothing_there = free_port()
    watcher.target = ImapTarget.from_url(imap.url().replace(f":{imap.port}/", f":{nothing_there}/"))
    watcher.first_backoff_seconds = watcher.max_backoff_seconds = 0.2
    stop, thread = watch_in_thread(watcher)  # connection refused: retried with backoff
    try:
        deliver(imap, reply(COMPLETE))
        time.sleep(0.3)
        assert sink.messages == []
        watcher.target = ImapTarget.from_url(imap.url())  # back: the next attempt gets in
        assert wait_for(lambda: len(sink.messages) == 1, 12)
    finally:
        stop.set()
        thread.join(10)
    assert not thread.is_alive()


def test_lgpd_export_and_erasure_cover_the_sign_up_messages(
    watcher: SignupWatcher, imap: ImapServer, sink: SmtpSink, db: Database
) -> None:
    from sincro.signup.privacy import PERSONAL_DATA

    deliver(imap, reply(COMPLETE))
    run_round(watcher)
    [customer] = registered(db)
    with db.write() as session:
        exported = PERSONAL_DATA.export(session, customer.id)
        assert [m["sender"] for m in exported["messages"]] == ["joana.prado@cliente.test"]
        assert PERSONAL_DATA.erase(session, customer.id) == {"signup_messages": 1}
        assert PERSONAL_DATA.erase(session, customer.id) == {"signup_messages": 0}
    [row] = rows(db)
    assert (row.sender, row.subject, row.message_id) == ("", "", "")
    deliver(imap, reply(COMPLETE))  # the same message again: still recognised by its key
    assert run_round(watcher).recorded == 0
    assert len(registered(db)) == 1
