"""``sincro assistant evaluate`` and ``sincro assistant parse``."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from sincro.assistant.cli import assistant_app


def test_evaluate_prints_macro_f1_and_the_tables(tmp_path: Path) -> None:
    small = tmp_path / "small.tsv"
    small.write_text(
        "quero a segunda via do boleto\tsegunda_via_fatura\nqual seu signo\tfora_do_escopo\n"
        "me passa pra um atendente humano\tfalar_com_atendente\n",
        encoding="utf-8",
    )
    result = CliRunner().invoke(assistant_app, ["evaluate", "--test", str(small), "--errors"])
    assert result.exit_code == 0, result.output
    assert "test 3 lines: macro F1" in result.output
    assert "| segunda_via_fatura | 1.00 | 1.00 | 1.00 | 1 |" in result.output
    assert "| true \\ predicted |" in result.output


def test_parse_prints_intent_and_entities() -> None:
    result = CliRunner().invoke(assistant_app, ["parse", "cancela meu pedido 445566 pfv"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["intent"] == "cancelamento"
    assert out["entities"][0]["type"] == "order"
    assert out["entities"][0]["normalized"] == "445566"
