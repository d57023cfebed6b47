"""``sincro assistant …``: the understanding, from the command line."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from sincro.assistant.widget.cli import site_key_app
from sincro.cli_common import console

assistant_app = typer.Typer(help="The pt-BR service assistant.", no_args_is_help=True)
assistant_app.add_typer(site_key_app, name="site-key")


@assistant_app.command("evaluate")
def evaluate(
    test: Path = typer.Option(None, "--test", help="text<TAB>intent file; default: held-out set"),
    errors: bool = typer.Option(False, "--errors", help="list the misclassified messages"),
) -> None:
    """Train on data/train.tsv and print macro F1, per-intent scores and the confusion table
    on the held-out set (Markdown, as in docs/benchmarks.md)."""
    from sincro.assistant.evaluation import evaluate as run

    result = run(test_path=test)
    console.print(
        f"train {result.train_lines} lines ({result.train_seconds:.2f} s), "
        f"test {result.test_lines} lines: macro F1 [bold]{result.macro_f1:.4f}[/], "
        f"accuracy {result.accuracy:.4f}\n",
        highlight=False,
    )
    console.print(result.markdown(), highlight=False, markup=False)
    if errors:
        console.print("\nmisclassified:", highlight=False)
        for text, want, got in result.misclassified:
            console.print(f"  {want} -> {got}: {text}", highlight=False, markup=False)


@assistant_app.command("parse")
def parse(text: str = typer.Argument(..., help="a customer's message")) -> None:
    """Intent, confidence and entities of one message (no catalog: places and products of the
    database are not looked up)."""
    from sincro.assistant import service
    from sincro.config import get_settings

    out = service.parse(None, text, get_settings())
    console.print_json(json.dumps(out.model_dump()))
