"""Strong negative sentiment in pt-BR customer text: a small lexicon, plus the way anger is
typed (shouting in capitals, "!!!", profanity). Deliberately strict: one word of displeasure
("ruim") is not enough; the bot hands off only when the customer is clearly upset."""

from __future__ import annotations

import re

from sincro.text_pt import fold

# words (folded) that alone say the customer is furious or insulting
STRONG = frozenset(
    [
        "absurdo",
        "absurda",
        "ridiculo",
        "ridicula",
        "palhacada",
        "vergonha",
        "vergonhoso",
        "vergonhosa",
        "lixo",
        "porcaria",
        "merda",
        "bosta",
        "porra",
        "caralho",
        "droga",
        "inferno",
        "odeio",
        "detesto",
        "ladroes",
        "ladrao",
        "roubo",
        "roubando",
        "golpe",
        "golpistas",
        "enganacao",
        "incompetentes",
        "incompetente",
        "pessimo",
        "pessima",
        "horrivel",
        "nojo",
        "revoltado",
        "revoltada",
        "indignado",
        "indignada",
        "furioso",
        "furiosa",
        "procon",
        "processar",
        "fdp",
        "pqp",
        "vsf",
        "cacete",
        "desgraca",
        "desgracado",
        "idiotas",
        "idiota",
        "otarios",
        "otario",
    ]
)
# words that count when they come with another sign (capitals, "!!", a second word)
MILD = frozenset(
    [
        "ruim",
        "demora",
        "demorando",
        "cansei",
        "cansado",
        "cansada",
        "raiva",
        "irritado",
        "irritada",
        "chateado",
        "chateada",
        "decepcionado",
        "decepcionada",
        "insatisfeito",
        "insatisfeita",
        "descaso",
        "palhaco",
        "palhacos",
        "mentira",
        "mentiram",
        "enrolando",
        "enrolacao",
    ]
)
PHRASES = (
    "nao aguento mais",
    "to de saco cheio",
    "estou de saco cheio",
    "saco cheio",
    "nunca mais compro",
    "vou cancelar tudo",
    "falta de respeito",
    "uma piada",
    "que raiva",
    "ta de brincadeira",
    "vou no procon",
    "reclame aqui",
)
WORD = re.compile(r"[a-z]+")


def shouting(text: str) -> bool:
    """Most letters in capitals over a few words (not an acronym or a model name)."""
    letters = [c for c in text if c.isalpha()]
    if len(letters) < 12:
        return False
    return sum(c.isupper() for c in letters) / len(letters) > 0.8


def strongly_negative(text: str) -> bool:
    folded = fold(text)
    found = WORD.findall(folded)
    strong = sum(w in STRONG for w in found)
    mild = sum(w in MILD for w in found)
    phrases = sum(p in folded for p in PHRASES)
    signs = shouting(text) + ("!!!" in text or "?!?" in text)
    if strong or phrases >= 2 or mild >= 2:
        return True
    return bool((phrases or mild) and signs)
