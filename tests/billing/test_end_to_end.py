"""A dunning notice through messaging to a real SMTP sink: pt-BR text and HTML with the
digitable line and the PIX code, the invoice PDF attached; consent per purpose honoured."""

from __future__ import annotations

import datetime as dt
import io

import pypdf
from sqlalchemy import select

from sincro.billing import pix, service
from sincro.config import Settings
from sincro.customers import service as customers
from sincro.db import Database
from sincro.messaging.models import LedgerEntry
from tests.billing.test_dunning import DUE, add_customer, add_receivable, at
from tests.messaging.support import Dispatched, drain, messaging_settings, sender_for
from tests.smtp_sink import SmtpSink


def test_an_overdue_notice_reaches_the_customer_with_what_to_pay(
    db: Database, settings: Settings, sink: SmtpSink, dispatched: Dispatched
) -> None:
    s = settings.model_copy(
        update={
            "billing_pix_key": "financeiro@sincro.example",
            "billing_beneficiary_name": "Sincro Telecom",
        }
    )
    payer = add_customer(db, "GO1", "GO", "Goiânia")
    add_customer(db, "GO2", "GO", "Anápolis")
    with db.write() as session:
        customers.record_consent(
            session, payer, channel="email", purpose="billing", granted=True,
            source="test", evidence="contract",
        )  # fmt: skip
        customers.record_consent(  # offers refused: billing still reaches this one
            session, payer, channel="email", purpose="marketing", granted=False,
            source="test", evidence="unsubscribe",
        )  # fmt: skip
    rid = add_receivable(db, "R-GO1", "GO1", issued=None)
    add_receivable(db, "R-GO2", "GO2", issued=None)  # no billing consent: kept, never sent

    with db.write() as session:
        run, _ = service.run_dunning(session, s, now=at(DUE + dt.timedelta(days=7), 14))
    assert run.queued == 2
    with sender_for(db, messaging_settings(s, sink.port)) as sender:
        drain(sender, dispatched)
    [message] = sink.messages
    assert "go1@exemplo.com.br" in message["To"]
    assert message["Subject"] == "Fatura NF-R-GO1 em aberto: R$ 129,90"
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    with db.read() as session:
        pay = service.payment(session, rid, s)
    assert "vencida há 7 dias" in text and "Vencimento: 10/03/2026" in text
    assert pay.digitable_line in text
    assert pay.pix_code and pay.pix_code in text
    assert pix.parse(pay.pix_code)["54"] == "129.90"
    html = message.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert "<strong>R$ 129,90</strong>" in html and pay.digitable_line in html
    [attachment] = list(message.iter_attachments())
    assert attachment.get_filename() == "fatura-NF-R-GO1.pdf"
    pdf = pypdf.PdfReader(io.BytesIO(attachment.get_content()))
    assert pay.digitable_line in pdf.pages[0].extract_text()
    with db.read() as session:
        statuses = sorted(r.status for r in session.scalars(select(LedgerEntry)))
    assert statuses == ["sent", "suppressed"]
