"""Writes ``src/sincro/assistant/data/train.tsv``: the hand-written core (``core.tsv``) plus
variations made from templates and slot values (products, cities, numbers), greetings
before a request, and the way people type (no accents, abbreviations, capitals).

Run once when the core or the templates change; the output is committed and is what the
classifier trains on. Deterministic (seeded). The held-out ``test.tsv`` is read only to drop
any training line equal to a held-out one after normalization (the sets stay disjoint;
tests/assistant/test_data.py checks it).

    PYTHONPATH=src python bench/assistant_train_variants.py
"""

from __future__ import annotations

import random
from pathlib import Path

DATA = Path(__file__).resolve().parents[1] / "src" / "sincro" / "assistant" / "data"

PRODUCTS = (
    "iphone 15", "iphone 14 128gb", "iphone 13", "iphone 16 pro", "galaxy a05", "galaxy a15",
    "galaxy s23", "galaxy s24 ultra", "moto g84", "moto g54", "moto e13", "redmi note 13",
    "xiaomi 13t", "poco x6", "galaxy tab a9", "ipad 10", "airpods", "fone jbl", "apple watch",
    "smart tv 50", "notebook lenovo", "roteador wifi 6", "carregador turbo", "galaxy z flip5",
)  # fmt: skip
CITIES = (
    "sao paulo", "rio", "bh", "belo horizonte", "curitiba", "porto alegre", "recife",
    "salvador", "fortaleza", "manaus", "belem", "goiania", "brasilia", "campinas", "santos",
    "florianopolis", "joinville", "londrina", "uberlandia", "natal", "joao pessoa", "maceio",
    "sorocaba", "ribeirao preto", "vitoria", "cuiaba", "campo grande", "teresina", "sao luis",
)  # fmt: skip
MONTHS = ("janeiro", "fevereiro", "marco", "abril", "maio", "junho", "julho", "agosto",
          "setembro", "outubro", "novembro", "dezembro")  # fmt: skip
PLANS = ("controle 20gb", "pos 50gb", "fibra 300 mega", "fibra 1 giga", "pre pago",
         "familia 4 linhas", "internet 500 mega", "plano black")  # fmt: skip

TEMPLATES: dict[str, tuple[str, ...]] = {
    "segunda_via_fatura": (
        "segunda via da fatura de {m}",
        "me manda o boleto de {m}",
        "2 via conta de {m}",
        "fatura {n} segunda via",
        "preciso do boleto da fatura {n}",
        "quero a fatura de {m} no email",
        "nao recebi a conta de {m}",
        "meu cpf e {cpf}, preciso da segunda via",
    ),
    "consultar_debito": (
        "tenho debito no cpf {cpf}?",
        "quanto devo? meu cpf {cpf}",
        "a fatura de {m} ta paga?",
        "paguei a conta de {m}, ja baixou?",
        "tem divida no cnpj {cnpj}?",
        "a fatura {n} esta em aberto?",
    ),
    "disponibilidade_produto": (
        "tem {p}?",
        "tem {p} em {c}?",
        "vcs tem {p} disponivel",
        "{p} tem em estoque?",
        "tem {p} na loja de {c}",
        "quando chega {p}",
        "ainda tem {p}?",
        "consigo retirar {p} hoje em {c}?",
        "{p} esgotou?",
        "tem {p} pra pronta entrega",
    ),
    "loja_proxima": (
        "loja em {c}",
        "tem loja em {c}?",
        "onde fica a loja de {c}",
        "loja mais perto em {c}",
        "endereco da loja de {c}",
        "horario da loja de {c}",
        "moro em {c}, qual loja mais perto",
        "loja perto do cep {cep}",
    ),
    "status_pedido": (
        "status do pedido {n}",
        "pedido {order} nao chegou",
        "cade o pedido {n}",
        "rastrear pedido {order}",
        "meu pedido {n} ta atrasado",
        "comprei {p} e nao chegou",
        "quando chega meu {p}",
        "minha reserva de {p} ta pronta?",
    ),
    "informacao_produto": (
        "qual o preco do {p}",
        "quanto custa {p}",
        "ficha tecnica do {p}",
        "{p} tem 5g?",
        "quantos gb tem o {p}",
        "qual a bateria do {p}",
        "diferenca entre {p} e {p2}",
        "{p} e bom?",
        "o {p} vem com carregador?",
        "garantia do {p}",
    ),
    "planos_ofertas": (
        "quanto custa o plano {plan}",
        "quero o plano {plan}",
        "tem promocao no plano {plan}?",
        "mudar pro {plan}",
        "plano {plan} vale a pena?",
        "oferta de {p} com plano",
    ),
    "cancelamento": (
        "quero cancelar o plano {plan}",
        "cancelar o pedido {n}",
        "cancela a reserva do {p}",
        "cancelar a {plan}",
        "quero devolver o {p} e cancelar",
    ),
    "suporte_tecnico": (
        "meu {p} nao liga",
        "{p} travando",
        "{p} nao carrega",
        "sem internet em {c}",
        "{p} sem sinal",
        "como configuro o {p}",
        "a fibra caiu aqui em {c}",
    ),
    "cadastro": (
        "mudar meu email pra {email}",
        "atualizar telefone pra {phone}",
        "meu novo endereco e cep {cep}",
        "corrigir o cpf {cpf} no cadastro",
        "trocar o email do cadastro, o novo e {email}",
    ),
    "privacidade": (
        "excluir meus dados, cpf {cpf}",
        "parem de mandar email pro {email}",
        "nao liguem mais pro {phone}",
        "quais dados vcs tem do cpf {cpf}",
    ),
    "reclamacao": (
        "cobraram errado na fatura {n}, absurdo",
        "o {p} veio quebrado, pessimo",
        "loja de {c} atendimento horrivel",
        "vou no procon por causa do pedido {n}",
    ),
}

PREFIXES = ("oi ", "bom dia, ", "boa tarde. ", "ola tudo bem? ", "oi boa noite! ", "opa ",
            "boa tarde, tudo bem? entao, ", "oi, ")  # fmt: skip
SUFFIXES = (" pfv", " por favor", " obg", "??", " 🙏", "!!", " urgente", ". aguardo")
ABBREVIATIONS = (
    ("voce", "vc"), ("voces", "vcs"), ("por que", "pq"), ("que ", "q "), ("quero", "qro"),
    ("tambem", "tb"), ("obrigado", "obg"), ("beleza", "blz"), ("hoje", "hj"),
    ("para", "pra"), ("muito", "mt"), ("o que", "oq"), ("nao", "n"),
)  # fmt: skip
CANCELLED_PREFIX_INTENTS = {"saudacao", "despedida", "fora_do_escopo"}


def cpf(rng: random.Random) -> str:
    from sincro.text_pt import cpf_check_digits, format_cpf

    base = "".join(str(rng.randrange(10)) for _ in range(9))
    digits = base + cpf_check_digits(base)
    return format_cpf(digits) if rng.random() < 0.5 else digits


def cnpj(rng: random.Random) -> str:
    from sincro.text_pt import cnpj_check_digits, format_cnpj

    base = "".join(str(rng.randrange(10)) for _ in range(8)) + "0001"
    return format_cnpj(base + cnpj_check_digits(base))


def fill(template: str, rng: random.Random) -> str:
    p, p2 = rng.sample(PRODUCTS, 2)
    return template.format(
        p=p, p2=p2, c=rng.choice(CITIES), m=rng.choice(MONTHS), plan=rng.choice(PLANS),
        n=rng.randrange(10_000, 9_999_999), order=f"PED-2026-{rng.randrange(1, 999_999):06d}",
        cpf=cpf(rng), cnpj=cnpj(rng),
        cep=f"{rng.randrange(1000, 99999):05d}-{rng.randrange(1000):03d}",
        email=f"cliente{rng.randrange(100)}@gmail.com",
        phone=f"(11) 9{rng.randrange(1000, 9999)}-{rng.randrange(1000, 9999)}",
    )  # fmt: skip


def styled(text: str, rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.2:
        return text.upper()
    if roll < 0.5:
        for long, short in ABBREVIATIONS:
            text = text.replace(long, short)
        return text
    if roll < 0.6 and len(text) > 6:  # a dropped or doubled letter
        i = rng.randrange(1, len(text) - 1)
        return text[:i] + text[i + 1 :] if rng.random() < 0.5 else text[:i] + text[i] + text[i:]
    return text


def main() -> None:
    rng = random.Random(11)
    core = [
        tuple(line.split("\t"))
        for line in (DATA / "core.tsv").read_text(encoding="utf-8").splitlines()
        if line and not line.startswith("#")
    ]
    rows: list[tuple[str, str]] = [(t, i) for t, i in core]
    by_intent: dict[str, list[str]] = {}
    for text, intent in core:
        by_intent.setdefault(intent, []).append(text)
    for intent, texts in sorted(by_intent.items()):
        for template in TEMPLATES.get(intent, ()):
            for _ in range(3):
                rows.append((styled(fill(template, rng), rng), intent))
        for text in rng.sample(texts, min(12, len(texts))):
            if intent not in CANCELLED_PREFIX_INTENTS:
                text = rng.choice(PREFIXES) + text
            rows.append((styled(text + rng.choice(SUFFIXES), rng), intent))
    from sincro.assistant.classifier import normalize, read_examples

    seen = {normalize(text) for text, _ in read_examples(DATA / "test.tsv")}
    out = ["# Training set (generated by bench/assistant_train_variants.py from core.tsv)"]
    for text, intent in rows:
        key = normalize(text)
        if key not in seen:
            seen.add(key)
            out.append(f"{text}\t{intent}")
    (DATA / "train.tsv").write_text("\n".join(out) + "\n", encoding="utf-8")
    print(f"{len(out) - 1} training lines")


if __name__ == "__main__":
    main()
