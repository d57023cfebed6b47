"""``sincro signup …``: the sign-up inbox watcher and the demo's sample reply."""

from __future__ import annotations

import random
import signal
import sys
import threading
from collections.abc import Sequence
from typing import Annotated

import typer

from sincro.cli_common import configure_cli_logging, console, fail
from sincro.config import Settings

signup_app = typer.Typer(
    help="E-mail sign-up: watch the inbox, demo replies.", no_args_is_help=True
)


def inbox_url(settings: Settings) -> str:
    """The configured inbox, else (embedded mode) the demo's embedded IMAP server."""
    if settings.signup_imap_url:
        return settings.signup_imap_url
    if settings.mode == "embedded":
        user, password = settings.mailbox_imap_user, settings.mailbox_imap_password
        return f"imap://{user}:{password}@127.0.0.1:{settings.mailbox_imap_port}/INBOX"
    return ""


def serve_commands(settings: Settings, me: Sequence[str] | None = None) -> dict[str, list[str]]:
    """``sincro serve`` runs the watcher when an inbox is configured (SINCRO_SIGNUP_IMAP_URL)."""
    if not settings.signup_imap_url:
        return {}
    return {"signup": [*(me or [sys.executable, "-m", "sincro.cli"]), "signup", "watch"]}


@signup_app.command("watch")
def watch(
    once: Annotated[bool, typer.Option(help="Handle the inbox once and exit")] = False,
) -> None:
    """Watch the sign-up inbox (IDLE, polling without it): register complete replies, answer
    incomplete ones, move each handled message to the processed folder."""
    from sincro.config import get_settings
    from sincro.db import database_for
    from sincro.mail import Mailer, SmtpSettings
    from sincro.signup.watcher import ImapTarget, SignupWatcher

    configure_cli_logging()
    settings = get_settings()
    url = inbox_url(settings)
    if not url:
        fail("no sign-up inbox: set SINCRO_SIGNUP_IMAP_URL (imap://user:pass@host:port/INBOX)")
    smtp = SmtpSettings.from_settings(settings)
    if smtp is None:
        fail("the sign-up service answers by e-mail: set SINCRO_SMTP_URL (smtp://host:port)")
    try:
        target = ImapTarget.from_url(url)
    except ValueError as exc:
        fail(str(exc))
    smtp = smtp.model_copy(update={"sender": settings.signup_address})
    if not once:
        from sincro import health

        health.start_heartbeat(settings, kind="signup")
    with Mailer(smtp) as mailer:
        watcher = SignupWatcher(settings, database_for(settings), target, mailer)
        if once:
            client = watcher.connect()
            try:
                stats = watcher.process_inbox(client)
            finally:
                client.logout()
            console.print(
                f"{stats.seen} seen, {stats.recorded} recorded, {stats.replied} answered, "
                f"{stats.moved} moved, {stats.deferred} deferred"
            )
            return
        stop = threading.Event()
        signal.signal(signal.SIGINT, lambda *_: stop.set())
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        console.print(f"watching {target.host}:{target.port}/{target.folder}")
        watcher.run(stop)


@signup_app.command("invite")
def invite(
    addresses: Annotated[list[str], typer.Argument(help="Who to invite (e-mail addresses)")],
) -> None:
    """Send the sign-up invitation (a short text and the form lines to fill in) from
    SINCRO_SIGNUP_ADDRESS; the replies come back to the inbox the watcher reads."""
    from sincro.config import get_settings
    from sincro.mail import Mailer, SmtpSettings
    from sincro.signup.replies import invitation
    from sincro.text_pt import is_valid_email

    settings = get_settings()
    smtp = SmtpSettings.from_settings(settings)
    if smtp is None:
        fail("set SINCRO_SMTP_URL (smtp://host:port) to send invitations")
    wrong = [a for a in addresses if not is_valid_email(a)]
    if wrong:
        fail(f"not an e-mail address: {', '.join(wrong)}")
    with Mailer(smtp) as mailer:
        results = mailer.send_many(invitation(a, settings.signup_address) for a in addresses)
    refused = [r for r in results if not r.ok]
    console.print(f"{len(results) - len(refused)} invitation(s) sent, {len(refused)} refused")
    if refused:
        raise typer.Exit(1)


def sample_cpf(rng: random.Random) -> str:
    from sincro.text_pt import cpf_check_digits, format_cpf

    base = "".join(str(rng.randrange(10)) for _ in range(9))
    return format_cpf(base + cpf_check_digits(base))


@signup_app.command("demo-reply")
def demo_reply(
    name: Annotated[str, typer.Option(help="Who replies")] = "Maria Aparecida dos Santos",
    email: Annotated[str, typer.Option(help="Their address")] = "maria.santos@example.com",
    city: Annotated[str, typer.Option(help="Cidade/UF")] = "Campinas/SP",
    incomplete: Annotated[bool, typer.Option(help="Leave the CPF out")] = False,
) -> None:
    """Put a sample sign-up reply in the inbox (the demo's embedded IMAP server by default),
    as a person answering the invitation would write it."""
    from email.utils import formatdate, make_msgid

    from imapclient import IMAPClient

    from sincro.config import get_settings
    from sincro.signup.watcher import ImapTarget

    settings = get_settings()
    url = inbox_url(settings)
    if not url:
        fail("no sign-up inbox: set SINCRO_SIGNUP_IMAP_URL")
    target = ImapTarget.from_url(url)
    invitation_id = make_msgid(domain="sincro.demo")
    cpf = "" if incomplete else sample_cpf(random.Random())
    body = (
        f"Olá! Segue o meu cadastro.\n\nNome completo: {name}\nCPF: {cpf}\nE-mail: {email}\n"
        f"Cidade/UF: {city}\nPlano de interesse: Controle 20GB\n"
        "Receber ofertas por e-mail (sim/não): sim\n\n"
        f"Em {formatdate(localtime=False)}, {settings.signup_address} escreveu:\n"
        "> Para se cadastrar, responda a esta mensagem preenchendo as linhas abaixo:\n"
        "> Nome completo:\n> CPF:\n"
    )
    message = (
        f"From: {name} <{email}>\r\nTo: {settings.signup_address}\r\n"
        f"Subject: Re: Convite para cadastro\r\nDate: {formatdate(localtime=False)}\r\n"
        f"Message-ID: {make_msgid(domain='example.com')}\r\nIn-Reply-To: {invitation_id}\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
        "Content-Transfer-Encoding: 8bit\r\n\r\n" + body.replace("\n", "\r\n")
    ).encode()
    try:
        with IMAPClient(target.host, port=target.port, ssl=target.ssl, timeout=10) as client:
            if target.starttls:
                client.starttls()
            client.login(target.username, target.password)
            client.append(target.folder, message)
    except OSError as exc:
        fail(
            f"cannot reach the inbox at {target.host}:{target.port} ({exc}); "
            "is `sincro mail imap` running?"
        )
    console.print(f"sample reply from {email} put in {target.folder}")
