"""The sign-up parser on messy pt-BR: no accents, capitals, abbreviations, quoted replies,
HTML-only mail, charset garbage and NUL bytes."""

from __future__ import annotations

import datetime as dt
from email.message import EmailMessage

import pytest

from sincro.signup.inbound import html_to_text, is_automatic, read
from sincro.signup.parsing import check, parse, split_reply

CPF = "529.982.247-25"
SENDER = "pessoa@cliente.test"


def test_free_text_without_accents_in_capitals() -> None:
    form = parse(
        "OLA, MEU NOME E JOAO DA SILVA SAURO, CPF 52998224725, MORO EM CAMPINAS/SP "
        "E QUERO O PLANO CONTROLE 20GB. OBRIGADO",
        SENDER,
    )
    checked = check(form)
    assert checked.valid is not None
    assert checked.valid.name == "Joao da Silva Sauro"
    assert (checked.valid.document, checked.valid.city, checked.valid.state) == (
        "52998224725",
        "CAMPINAS",
        "SP",
    )
    assert checked.valid.plan == "CONTROLE 20GB"
    assert checked.valid.email == SENDER


def test_abbreviated_form_lines_and_a_state_by_name() -> None:
    text = (
        "nome compl.: ana paula ferreira\ncpf/cnpj - " + CPF + "\ncid: sao jose dos campos\n"
        "estado: Sao Paulo\ncel: (12) 99876-5432\nnasc: 03/04/91\ne-mail: ANA@Cliente.Test\n"
        "ofertas: s"
    )
    checked = check(parse(text, SENDER))
    assert checked.valid is not None
    valid = checked.valid
    assert (valid.name, valid.city, valid.state) == (
        "Ana Paula Ferreira",
        "sao jose dos campos",
        "SP",
    )
    assert valid.email == "ana@cliente.test"
    assert valid.phone == "12998765432"
    assert valid.birth_date == dt.date(1991, 4, 3)
    assert valid.marketing is True


@pytest.mark.parametrize(
    ("line", "city", "uf"),
    [
        ("Cidade: Campinas/SP", "Campinas", "SP"),
        ("Cidade: Campinas - sp", "Campinas", "SP"),
        ("Cidade: Campinas (SP)", "Campinas", "SP"),
        ("Cidade: Belo Horizonte, MG", "Belo Horizonte", "MG"),
        ("Cidade/UF: Porto Alegre RS", "Porto Alegre", "RS"),
    ],
)
def test_city_and_uf_in_one_line(line: str, city: str, uf: str) -> None:
    checked = check(parse(f"Nome: Ana Lima\nCPF: {CPF}\n{line}", SENDER))
    assert checked.valid is not None
    assert (checked.valid.city, checked.valid.state) == (city, uf)


def test_the_directory_gives_the_spelling_and_a_missing_uf() -> None:
    checked = check(
        parse(f"me chamo Ana Lima, cpf {CPF}, moro em sao paulo.", SENDER),
        [("São Paulo", "SP"), ("Campinas", "SP")],
    )
    assert checked.valid is not None
    assert (checked.valid.city, checked.valid.state) == ("São Paulo", "SP")


def test_only_the_new_part_of_a_reply_is_free_text_and_quoted_form_lines_count() -> None:
    text = (
        "Segue o que faltava\n\nEm seg., 1 de dez. de 2026 às 10:00, Operadora escreveu:\n"
        "> Meu nome é Fulano Quoted\n> Nome: Pedro Alves\n> CPF: " + CPF + "\n"
        "> Cidade: Recife (PE)\n> Plano: [seu plano]\n> E-mail: ____\n"
    )
    new, quoted = split_reply(text)
    assert "Fulano" not in new and "Fulano" in quoted
    form = parse(text, SENDER)
    assert form.name == "Pedro Alves"  # the quoted free text "Meu nome é" is not read
    assert form.plan is None  # a placeholder is no value
    assert form.email == SENDER
    assert check(form).valid is not None


def test_the_new_part_wins_over_the_quoted_invitation() -> None:
    text = (
        f"Nome: Carla Dias\nCPF: {CPF}\nCidade: Natal/RN\n\n> Nome: Outra Pessoa\n> Cidade: Natal"
    )
    assert parse(text, SENDER).name == "Carla Dias"


def test_outlook_style_quote_block_is_cut() -> None:
    text = "Nome: Bia Souza\n\nDe: Operadora <c@o.test>\nEnviado: segunda\nPara: bia\nNome: X Y"
    assert split_reply(text)[0].strip() == "Nome: Bia Souza"


@pytest.mark.parametrize(
    ("text", "fields"),
    [
        ("oi, quero me cadastrar", {"name", "document", "city", "state"}),
        (f"Nome: Ana\nCPF: {CPF}\nCidade: Natal/RN", {"name"}),  # one word is no full name
        ("Nome: Ana Lima\nCPF: 123.456.789-00\nCidade: Natal/RN", {"document"}),
        ("Nome: Ana Lima\nCPF: 1234567\nCidade: Natal/RN", {"document"}),
        (f"Nome: Ana Lima\nCPF: {CPF}\nCidade: Natal/XX", {"state"}),
        (f"Nome: Ana Lima\nCPF: {CPF}\nCidade: Natal/RN\nNascimento: 31/02/1990", {"birth_date"}),
        (f"Nome: Ana Lima\nCPF: {CPF}\nCidade: Natal/RN\nE-mail: ana@", {"email"}),
    ],
)
def test_problems_are_named_by_field(text: str, fields: set[str]) -> None:
    checked = check(parse(text, SENDER))
    assert checked.valid is None
    assert {p.field for p in checked.problems} == fields
    assert all(p.message for p in checked.problems)


def test_no_to_offers_is_a_refusal_not_a_blank() -> None:
    assert parse("não quero receber ofertas, obrigado", SENDER).marketing is False
    assert parse("Receber ofertas por e-mail (sim/não): nao", SENDER).marketing is False
    assert parse("Nome: Ana", SENDER).marketing is None


def test_nul_bytes_control_characters_and_bidi_tricks_are_dropped() -> None:
    form = parse(f"Nome: Ana\x00 Li\u202ema\nCPF: {CPF}\x07\nCidade: Natal/RN", SENDER)
    assert form.name == "Ana Lima"
    assert check(form).valid is not None


def test_html_only_mail_is_read_as_text_without_its_scripts() -> None:
    message = EmailMessage()
    message["From"] = "Ana <ana@cliente.test>"
    message["Message-ID"] = "<h1@cliente.test>"
    message["Subject"] = "cadastro"
    message.set_content(
        "<html><head><style>p{}</style><script>Nome: Robo Hacker</script></head><body>"
        f"<p>Nome: Ana&nbsp;Lima</p><div>CPF: {CPF}</div><p>Cidade: Natal/RN</p>"
        "<blockquote><p>Nome: Outra Pessoa</p></blockquote></body></html>",
        subtype="html",
    )
    inbound = read(message.as_bytes(), "cadastro@operadora.test")
    checked = check(parse(inbound.text, inbound.sender))
    assert checked.valid is not None and checked.valid.name == "Ana Lima"
    assert "Robo" not in inbound.text
    assert "> Nome: Outra Pessoa" in html_to_text("<blockquote>Nome: Outra Pessoa</blockquote>")


def test_a_lying_or_unknown_charset_decodes_with_replacements() -> None:
    raw = (
        b"From: a@cliente.test\r\nMessage-ID: <c@x>\r\nSubject: =?x-unknown?q?oi?=\r\n"
        b"Content-Type: text/plain; charset=x-klingon\r\n\r\nNome: Jos\xe9 \xff\xfe Lima\r\nCPF: "
        + CPF.encode()
        + b"\r\n"
    )
    inbound = read(raw, "cadastro@operadora.test")
    assert "Nome: Jos" in inbound.text
    assert parse(inbound.text, inbound.sender).document == CPF


def test_a_mime_bomb_costs_a_bounded_number_of_parts() -> None:
    parts = "".join(f"--b\r\nContent-Type: text/x-junk\r\n\r\n{i}\r\n" for i in range(5000))
    raw = (
        "From: a@cliente.test\r\nMessage-ID: <bomb@x>\r\nContent-Type: multipart/mixed; "
        f'boundary="b"\r\n\r\n{parts}--b\r\nContent-Type: text/plain\r\n\r\n'
        "Nome: Tarde Demais\r\n--b--\r\n"
    ).encode()
    inbound = read(raw, "cadastro@operadora.test")
    assert inbound.text == ""  # the text part after 30 parts is never looked at


@pytest.mark.parametrize(
    ("headers", "automatic"),
    [
        ("From: a@cliente.test\r\n", False),
        ("From: a@cliente.test\r\nAuto-Submitted: no\r\n", False),
        ("From: a@cliente.test\r\nAuto-Submitted: auto-generated\r\n", True),
        ("From: a@cliente.test\r\nPrecedence: junk\r\n", True),
        ("From: a@cliente.test\r\nReturn-Path: <>\r\n", True),
        ("From: MAILER-DAEMON@mx.cliente.test\r\n", True),
        ("From: noreply@cliente.test\r\n", True),
        ("From: a@cliente.test\r\nList-Id: <lista.cliente.test>\r\n", True),
        ("From: cadastro@operadora.test\r\n", True),  # our own answers looping back
        ("Subject: no sender\r\n", True),
    ],
)
def test_mail_from_robots_is_recognised(headers: str, automatic: bool) -> None:
    from email import message_from_bytes
    from email.policy import default

    message = message_from_bytes((headers + "\r\nbody").encode(), policy=default)
    assert is_automatic(message, "Cadastro <cadastro@operadora.test>") is automatic
