"""Bounces matched by VERP Return-Path from real-shaped DSNs (RFC 3464), hard ones suppress;
DKIM signatures verify with dkimpy against the generated key."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from sincro.config import Settings
from sincro.customers import service as customers
from sincro.db import Database
from sincro.messaging import bounces, compose, orchestrator, service
from sincro.messaging.models import LedgerEntry
from sincro.messaging.schemas import CampaignIn
from tests.messaging.support import (
    ACTOR,
    Dispatched,
    add_customers,
    drain,
    make_template,
    messaging_settings,
    sender_for,
)
from tests.smtp_sink import SmtpSink

DSN = """\
Return-Path: <>
Received: from mx.provedor.example by bounce.loja.example; {date}
Date: {date}
From: Mail Delivery System <MAILER-DAEMON@mx.provedor.example>
To: {verp}
Subject: Undelivered Mail Returned to Sender
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status;
\tboundary="B0UND"

--B0UND
Content-Description: Notification
Content-Type: text/plain; charset=us-ascii

This is the mail system at host mx.provedor.example.
I'm sorry to have to inform you that your message could not be delivered.

--B0UND
Content-Description: Delivery report
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.provedor.example
X-Postfix-Queue-ID: 4F2A81C0
Arrival-Date: {date}

Final-Recipient: rfc822; {rcpt}
Original-Recipient: rfc822;{rcpt}
Action: {action}
Status: {status}
Remote-MTA: dns; caixa.provedor.example
Diagnostic-Code: smtp; {code} {status} <{rcpt}>: Recipient address rejected:
    User unknown in virtual mailbox table

--B0UND
Content-Description: Undelivered Message Headers
Content-Type: text/rfc822-headers

Return-Path: <{verp}>
From: Loja Exemplo <ofertas@loja.example>
To: {rcpt}
Subject: Oferta

--B0UND--
"""


def _dsn(verp: str, rcpt: str, action: str = "failed", status: str = "5.1.1") -> bytes:
    code = "550" if status.startswith("5") else "450"
    date = "Sun, 6 Dec 2026 12:00:00 -0300"
    text = DSN.format(verp=verp, rcpt=rcpt, action=action, status=status, code=code, date=date)
    return text.replace("\n", "\r\n").encode()


def _send_campaign(db: Database, config: Settings, kept: Dispatched, n: int) -> int:
    template = make_template(db)
    with db.write() as s:
        campaign = service.create_campaign(
            s, CampaignIn(name="c", template_id=template), ACTOR, config
        ).id
    with db.write() as s:
        service.transition(s, campaign, "start", ACTOR)
    orchestrator.orchestrate(db, config, campaign)
    with sender_for(db, config) as sender:
        drain(sender, kept)
    return campaign


def test_hard_bounce_by_verp_marks_the_row_and_suppresses(
    db: Database, settings: Settings, sink: SmtpSink, dispatched: Dispatched
) -> None:
    config = messaging_settings(settings, sink.port, messaging_bounce_domain="bounce.loja.example")
    add_customers(db, 3)
    campaign = _send_campaign(db, config, dispatched, 3)
    envelopes = [s for s in sink.sessions]
    assert envelopes  # the sink saw the VERP envelope sender
    with db.read() as s:
        rows = list(s.scalars(select(LedgerEntry).order_by(LedgerEntry.id)))
    verp = compose.verp_address(config.secret_key, rows[0].id, "bounce.loja.example")
    soft_verp = compose.verp_address(config.secret_key, rows[1].id, "bounce.loja.example")
    hard = bounces.parse_dsn(_dsn(verp, rows[0].email), config.secret_key)
    assert [(b.entry_id, b.hard, b.status) for b in hard] == [(rows[0].id, True, "5.1.1")]
    assert "User unknown" in hard[0].diagnostic
    soft = bounces.parse_dsn(_dsn(soft_verp, rows[1].email, "delayed", "4.4.1"), config.secret_key)
    assert soft[0].hard is False
    forged = compose.verp_address("outro-segredo" * 4, rows[2].id, "bounce.loja.example")
    assert bounces.parse_dsn(_dsn(forged, rows[2].email), config.secret_key)[0].entry_id is None
    assert bounces.parse_dsn(b"From: x\r\n\r\nnot a report", config.secret_key) == []
    assert bounces.apply(db, hard + soft) == 1
    assert bounces.apply(db, hard) == 0  # idempotent
    with db.read() as s:
        assert service.counts(s, campaign).bounced == 1
        assert customers.suppressed(s, [rows[0].email], purpose="billing") == {rows[0].email}
        assert customers.suppressed(s, [rows[1].email], purpose="marketing") == set()


def test_return_path_is_the_verp_address(
    db: Database, settings: Settings, sink: SmtpSink, dispatched: Dispatched
) -> None:
    config = messaging_settings(settings, sink.port, messaging_bounce_domain="bounce.loja.example")
    add_customers(db, 1)
    received: list[str] = []
    original = sink.handle_MAIL

    async def spy(server, session, envelope, address, options):  # type: ignore[no-untyped-def]
        received.append(address)
        return await original(server, session, envelope, address, options)

    sink.handle_MAIL = spy  # type: ignore[method-assign]
    _send_campaign(db, config, dispatched, 1)
    with db.read() as s:
        row = s.scalars(select(LedgerEntry)).one()
    assert received == [compose.verp_address(config.secret_key, row.id, "bounce.loja.example")]
    assert compose.entry_of_verp(config.secret_key, received[0]) == row.id


def test_dkim_signature_verifies(
    db: Database, settings: Settings, sink: SmtpSink, dispatched: Dispatched, tmp_path: Path
) -> None:
    import base64
    import shutil
    import subprocess

    import dkim

    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is needed to make a DKIM key")
    pem = tmp_path / "dkim.pem"
    subprocess.run(
        ["openssl", "genrsa", "-traditional", "-out", str(pem), "1024"],
        check=True,
        capture_output=True,
    )
    public = subprocess.run(
        ["openssl", "rsa", "-in", str(pem), "-pubout", "-outform", "DER"],
        check=True,
        capture_output=True,
    ).stdout
    record = b"v=DKIM1; k=rsa; p=" + base64.b64encode(public)

    def dnsfunc(name: bytes, timeout: int = 5) -> bytes:
        return record if name == b"s2026._domainkey.loja.example." else b""

    config = messaging_settings(
        settings,
        sink.port,
        messaging_dkim_selector="s2026",
        messaging_dkim_domain="loja.example",
        messaging_dkim_private_key_path=tmp_path / "dkim.pem",
    )
    add_customers(db, 2)
    _send_campaign(db, config, dispatched, 2)
    assert len(sink.messages) == 2
    for message, raw in zip(sink.messages, sink.raw, strict=True):
        assert message["DKIM-Signature"] is not None
        # a receiver verifies the bytes as they arrived (re-serialising would refold headers)
        assert dkim.verify(raw, dnsfunc=dnsfunc)
        tampered = raw.replace(b"Campinas", b"Sorocaba", 1)
        assert not dkim.verify(tampered, dnsfunc=dnsfunc)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_bounce_mailbox_read_over_imap(
    db: Database, settings: Settings, sink: SmtpSink, dispatched: Dispatched
) -> None:
    from imapclient import IMAPClient

    from tests.imap_server import running_dovecot

    with running_dovecot("bounces") as server:
        config = messaging_settings(
            settings,
            sink.port,
            messaging_bounce_domain="bounce.loja.example",
            messaging_bounce_imap_url=server.url(),
        )
        add_customers(db, 2)
        campaign = _send_campaign(db, config, dispatched, 2)
        with db.read() as s:
            row = s.scalars(select(LedgerEntry).order_by(LedgerEntry.id)).first()
        assert row is not None
        verp = compose.verp_address(config.secret_key, row.id, "bounce.loja.example")
        with IMAPClient(server.host, port=server.port, ssl=False) as client:
            client.login(server.user, server.password)
            client.append("INBOX", _dsn(verp, row.email))
            client.append("INBOX", b"From: alguem@example.com\r\nSubject: oi\r\n\r\nnao e DSN\r\n")
        assert bounces.read_mailbox(db, config) == 1
        assert bounces.read_mailbox(db, config) == 0  # read mail is marked seen
        with IMAPClient(server.host, port=server.port, ssl=False) as client:
            client.login(server.user, server.password)
            client.select_folder("INBOX")
            assert client.search(["UNSEEN"]) == []
    with db.read() as s:
        assert service.counts(s, campaign).bounced == 1
