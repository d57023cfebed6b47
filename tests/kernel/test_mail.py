"""SMTP sending against a real server (aiosmtpd): connection reuse, reconnects, TLS, login and
the classification of 4xx and 5xx answers."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.smtp import AuthResult, LoginPassword

from sincro.config import Settings
from sincro.mail import (
    Delivery,
    Mailer,
    RawMessage,
    SmtpSettings,
    Undelivered,
    build_message,
    classify,
    wire_message,
)
from tests.smtp_sink import Certificate, SmtpSink, free_port, running_sink, self_signed

SENDER = "Central Sincro <alertas@sincro.com.br>"


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    with running_sink() as server:
        yield server


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    return self_signed(tmp_path_factory.mktemp("tls"))


def smtp(port: int, **options: object) -> SmtpSettings:
    return SmtpSettings.model_validate({"host": "127.0.0.1", "port": port, **options})


def note(to: str, subject: str = "Relatório de sincronização") -> object:
    return build_message(sender=SENDER, to=to, subject=subject, text="Olá, João! Ação concluída.")


def test_settings_from_the_existing_url_settings() -> None:
    settings = Settings(
        smtp_url="smtp://ana%40x.com:s%3Acret@mail.x.com:2525?starttls=1&timeout=5",
        alert_from="avisos@x.com",
    )
    smtp_settings = SmtpSettings.from_settings(settings)
    assert smtp_settings is not None
    assert (smtp_settings.host, smtp_settings.port, smtp_settings.security) == (
        "mail.x.com",
        2525,
        "starttls",
    )
    assert (smtp_settings.username, smtp_settings.password) == ("ana@x.com", "s:cret")
    assert smtp_settings.sender == "avisos@x.com" and smtp_settings.timeout_seconds == 5
    assert "s:cret" not in repr(smtp_settings)
    assert SmtpSettings.from_url("smtps://h").security == "ssl"
    assert SmtpSettings.from_settings(Settings(smtp_url="")) is None
    assert [classify(c) for c in (250, 451, 550, None)] == [
        "sent",
        "temporary",
        "permanent",
        "temporary",
    ]


def test_many_messages_share_one_connection_in_utf8(sink: SmtpSink) -> None:
    with Mailer(smtp(sink.port)) as mailer:
        results = mailer.send_many(note(f"cliente{i}@x.com.br") for i in range(5))
        results.append(mailer.send(note("outro@x.com.br")))
    assert [r.delivery for r in results] == [Delivery.SENT] * 6
    assert {r.code for r in results} == {250} and all(r.message_id for r in results)
    assert sink.connections == 1 and mailer.connections_opened == 1
    first = sink.messages[0]
    assert first["Subject"] == "Relatório de sincronização"
    assert first["From"] == SENDER and first["Content-Language"] == "pt-BR"
    assert first.get_content().rstrip() == "Olá, João! Ação concluída."  # type: ignore[attr-defined]
    assert first["Message-ID"].endswith("@sincro.com.br>")


def test_before_dot_runs_before_the_server_takes_the_message_and_can_hold_it_back(
    sink: SmtpSink,
) -> None:
    """What the messaging worker relies on: ``before_dot`` runs after the body and before
    the final dot; when it raises, the server never takes the message."""
    received_at_gate: list[int] = []

    def gate() -> None:
        received_at_gate.append(len(sink.messages))

    def broken() -> None:
        raise RuntimeError("banco fora do ar")

    def wire(to: str) -> RawMessage:
        text = ".linha que começa com ponto\n..e outra\nfim"
        return wire_message(sender=SENDER, to=to, subject="Aviso", text=text)

    first = wire("a@x.com")
    with Mailer(smtp(sink.port)) as mailer:
        results = [
            mailer.send(first, before_dot=gate),
            mailer.send(wire("b@x.com"), before_dot=gate),
        ]
        refused = mailer.send(wire("gone@x.com"), before_dot=gate)  # 550 at RCPT: no gate
        with pytest.raises(Undelivered) as held:
            mailer.send(wire("c@x.com"), before_dot=broken)
        results.append(mailer.send(wire("d@x.com")))
    assert isinstance(held.value.__cause__, RuntimeError)
    assert all(r.ok for r in results) and refused.code == 550
    assert received_at_gate == [0, 1]  # the server had not taken the message yet
    assert [m["To"] for m in sink.messages] == ["a@x.com", "b@x.com", "d@x.com"]
    # dot-stuffed on the way like smtplib does: lines starting with "." arrive intact
    assert sink.raw[0].replace(b"\r\n", b"\n").rstrip() == first.data.replace(b"\r\n", b"\n")
    assert mailer.connections_opened == 2  # the held message's connection was closed


def test_a_connection_is_renewed_after_max_per_connection(sink: SmtpSink) -> None:
    with Mailer(smtp(sink.port, max_per_connection=2)) as mailer:
        results = mailer.send_many(note(f"c{i}@x.com") for i in range(5))
    assert all(r.ok for r in results) and sink.connections == 3


def test_4xx_is_temporary_5xx_permanent_and_the_connection_survives(sink: SmtpSink) -> None:
    messages = [
        note("temp@x.com"),
        note("gone@x.com"),
        note("ok@x.com", subject="Favor recusar"),
        build_message(sender=SENDER, to=["ok@x.com", "gone@x.com"], subject="Parcial", text="."),
        note("ok@x.com"),
    ]
    with Mailer(smtp(sink.port)) as mailer:
        temp, gone, content, partial, ok = mailer.send_many(messages)
    assert (temp.delivery, temp.code) == (Delivery.TEMPORARY, 451)
    assert (gone.delivery, gone.code) == (Delivery.PERMANENT, 550) and "inexistente" in gone.detail
    assert (content.delivery, content.code) == (Delivery.PERMANENT, 554)
    assert partial.ok and partial.refused["gone@x.com"][0] == 550
    assert ok.ok and sink.connections == 1 and len(sink.messages) == 2


def test_a_connection_the_server_dropped_is_reopened() -> None:
    with running_sink(timeout=0.3) as sink, Mailer(smtp(sink.port)) as mailer:
        assert mailer.send(note("a@x.com")).ok
        time.sleep(0.8)  # the server closes the idle session (421 timeout)
        assert mailer.send(note("b@x.com")).ok
        assert mailer.connections_opened == 2 and len(sink.messages) == 2


def test_an_unreachable_server_fails_temporarily_without_trying_the_rest() -> None:
    with Mailer(smtp(free_port(), timeout_seconds=2)) as mailer:
        results = mailer.send_many(note(f"c{i}@x.com") for i in range(3))
    assert [(r.delivery, r.code) for r in results] == [(Delivery.TEMPORARY, None)] * 3
    assert results[1].detail.startswith("not tried") and mailer.connections_opened == 0


def _authenticator(sink_logins: list[str]) -> object:
    def check(
        server: object, session: object, envelope: object, mechanism: str, data: object
    ) -> AuthResult:
        assert isinstance(data, LoginPassword)
        good = (data.login, data.password) == (b"sincro", b"segredo")
        if good:
            sink_logins.append(data.login.decode())
        return AuthResult(success=good, handled=False)

    return check


def test_starttls_and_login(certificate: Certificate) -> None:
    logins: list[str] = []
    options = {
        "tls_context": certificate.server_context(),
        "require_starttls": True,
        "authenticator": _authenticator(logins),
        "auth_require_tls": True,
    }
    with running_sink(**options) as sink:
        settings = smtp(sink.port, security="starttls", username="sincro", password="segredo")
        with Mailer(settings, certificate.client_context()) as mailer:
            assert all(r.ok for r in mailer.send_many([note("a@x.com"), note("b@x.com")]))
        bad = smtp(sink.port, security="starttls", username="sincro", password="errada")
        with Mailer(bad, certificate.client_context()) as mailer:
            refused = mailer.send_many([note("a@x.com"), note("b@x.com")])
    assert logins == ["sincro"] and sink.connections == 1 and len(sink.messages) == 2
    assert [(r.delivery, r.code) for r in refused] == [(Delivery.PERMANENT, 535)] * 2


def test_implicit_tls(certificate: Certificate, tmp_path: Path) -> None:
    with running_sink(ssl_context=certificate.server_context()) as sink:
        settings = smtp(sink.port, security="ssl")
        with Mailer(settings, certificate.client_context()) as mailer:
            assert mailer.send(note("a@x.com")).ok
    assert len(sink.messages) == 1


def test_html_alternative_keeps_the_text_and_the_language(sink: SmtpSink) -> None:
    message = build_message(
        sender=SENDER,
        to="a@x.com",
        subject="Promoção",
        text="Olá",
        html="<p>Olá</p>",
        reply_to="atendimento@x.com",
        headers={"List-Unsubscribe": "<mailto:sair@x.com>"},
    )
    with Mailer(smtp(sink.port)) as mailer:
        assert mailer.send(message).ok
    (received,) = sink.messages
    assert received.get_body(("html",)).get_content().rstrip() == "<p>Olá</p>"  # type: ignore[union-attr]
    assert received.get_body(("plain",)).get_content().rstrip() == "Olá"  # type: ignore[union-attr]
    assert received["Content-Language"] == "pt-BR" and received["Reply-To"] == "atendimento@x.com"
    assert received["List-Unsubscribe"] == "<mailto:sair@x.com>"


def test_wire_message_reads_back_like_build_message(sink: SmtpSink) -> None:
    """The bulk path's wire form says what build_message says: encoded accents, the extra
    headers unfolded, both bodies, attachments; it goes over the same connection."""
    from email import message_from_bytes, policy

    from sincro.mail import wire_message

    url = "https://sincro.example/u/" + "x" * 120  # longer than a folded line
    raw = wire_message(
        sender="Loja São João <ofertas@loja.com.br>",
        to="maria@exemplo.com.br",
        subject="Olá, Maria: promoção de verão com ação relâmpago em São Paulo e Campinas",
        text="Olá, Maria!\nAção concluída.",
        html="<p>Olá, <b>Maria</b>!</p>",
        reply_to="Atendimento <atendimento@loja.com.br>",
        headers={"List-Unsubscribe": f"<{url}>"},
        message_id="<m.1.2.abc@loja.com.br>",
        attachments=[(b"%PDF-1.4 fatura", "application/pdf", "fatura_março.pdf")],
    )
    assert not raw.smtputf8 and raw.recipients == ("maria@exemplo.com.br",)
    assert raw.data.isascii() and b"\r\n" in raw.data
    parsed = message_from_bytes(raw.data, policy=policy.default)
    assert parsed["Subject"].startswith("Olá, Maria: promoção de verão")
    assert str(parsed["From"]) == "Loja São João <ofertas@loja.com.br>"
    assert parsed["List-Unsubscribe"] == f"<{url}>"
    assert parsed["Message-ID"] == "<m.1.2.abc@loja.com.br>"
    assert parsed["Content-Language"] == "pt-BR"
    plain, html = parsed.get_body(("plain",)), parsed.get_body(("html",))
    assert plain is not None
    assert plain.get_content().replace("\r\n", "\n") == "Olá, Maria!\nAção concluída."
    assert html is not None and "<b>Maria</b>" in html.get_content()
    (attachment,) = parsed.iter_attachments()
    assert attachment.get_filename() == "fatura_março.pdf"
    assert attachment.get_content() == b"%PDF-1.4 fatura"
    with Mailer(smtp(sink.port)) as mailer:
        assert mailer.send(raw).ok
    assert sink.raw[0].replace(b"\r\n", b"\n") == raw.data.replace(b"\r\n", b"\n")


def test_wire_message_with_an_international_address_asks_for_smtputf8() -> None:
    from sincro.mail import wire_message

    raw = wire_message(
        sender="ofertas@loja.com.br", to="joão@exemplo.com.br", subject="Olá", text="Oi"
    )
    assert raw.smtputf8 and raw.recipients == ("joão@exemplo.com.br",)
    assert "joão@exemplo.com.br".encode() in raw.data


def test_the_wire_form_shortcuts_write_what_compat32_and_the_address_parser_would() -> None:
    """wire_message writes a plain header as it is and takes a bare address as its own parse:
    both must give exactly what the email package would."""
    import random
    import string
    from email.errors import HeaderParseError
    from email.policy import compat32
    from email.utils import formataddr, getaddresses

    from sincro.mail import _BARE_ADDRESS, _WIRE_POLICY

    reference = compat32.clone(linesep="\r\n", max_line_length=998)
    rng = random.Random(9)
    values = ["Oferta", "a  b", " lead", "trail ", "tab\there", "line\nbreak", "x" * 989]
    values += ["x" * 1200, "ção", "<https://x/u/t>, <mailto:s@x?subject=unsubscribe>"]
    for _ in range(3000):
        chars = rng.choice([string.ascii_letters + " ", string.printable, "a ;,=?<>\"'\t", "é a"])
        values.append("".join(rng.choice(chars) for _ in range(rng.choice([1, 9, 80, 995]))))

    def folded(policy: Any, value: str) -> object:
        try:
            return policy.fold_binary("Subject", value)
        except HeaderParseError as exc:  # an embedded header: refused alike
            return type(exc)

    for value in values:
        assert folded(_WIRE_POLICY, value) == folded(reference, value)
    bare = ["c1@bench.example", "first.last+tag@sub.example.com", "a@b", "o'neil@x.ie", "A@X.COM"]
    not_bare = ["weird..dots@x.com", ".lead@x.com", "Ana <a@x.com>", "a@x.com, b@x.com", "a@x."]
    assert all(_BARE_ADDRESS.fullmatch(a) for a in bare)
    assert not any(_BARE_ADDRESS.fullmatch(a) for a in not_bare)
    for address in bare:
        assert getaddresses([address]) == [("", address)]
        assert formataddr(("", address), charset="utf-8") == address
