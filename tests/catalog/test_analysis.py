"""Text analysis, typo expansion and snippets (pure functions, no database)."""

from __future__ import annotations

from sincro.catalog.search import (
    Vocabulary,
    analyse,
    highlight,
    normalised_query,
    parse,
    snippet,
)
from sincro.text_pt import fold, stem


def test_fold() -> None:
    assert fold("Configuração ÁGUA Pré-pago") == "configuracao agua pre-pago"


def test_stems_ignore_accents_and_inflection() -> None:
    assert stem("configuracao") == stem("configurar") == stem("configuracoes")
    assert stem("carregadores") == stem("carregador") == "carreg"
    assert stem("chips") == "chip"
    assert stem("a15") == "a15" and stem("5g") == "5g"


def test_analyse_drops_stop_words_and_splits_codes() -> None:
    terms, pairs = analyse("Manual do roteador Wi-Fi 6 (CEL-A15)")
    assert terms == "manual roteador wi fi 6 cel a15"
    assert ("roteador", "roteador") in pairs and ("do", "do") not in pairs


def test_typo_expansion_uses_the_vocabulary() -> None:
    vocabulary = Vocabulary([("carregador", "carreg"), ("samsung", "samsung"), ("cabo", "cab")])
    (term,) = parse("carregdor", vocabulary)
    assert term.alternatives == ("carregdor", "carreg") and term.corrections == ("carregador",)
    (known,) = parse("carregadores", vocabulary)
    assert known.corrections == ()  # its stem is indexed: no guessing
    (short,) = parse("cab", vocabulary)
    assert short.corrections == ()
    assert parse("smasung", vocabulary)[0].corrections == ("samsung",)  # transposition


def test_cache_key_folds_the_query() -> None:
    assert normalised_query("  Configuração   do ROTEADOR ") == "configuracao do roteador"


def test_snippet_centres_on_the_matches() -> None:
    text = " ".join(f"palavra{i}" for i in range(100)) + " bateria nova. Fim do texto."
    result = snippet(text, frozenset({"bat"}), size=10)
    assert result.startswith("… ") and "<mark>bateria</mark>" in result
    assert result.endswith("texto.")


def test_highlight_keeps_lines_and_escapes() -> None:
    assert highlight("Chip <5G>\nAtivação", frozenset({"ativ"})) == (
        "Chip &lt;5G&gt;\n<mark>Ativação</mark>"
    )
