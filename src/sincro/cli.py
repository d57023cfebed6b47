"""The ``sincro`` command line: the process commands, every installed domain's sub-commands,
and the tools that are not domains (the demo, the simulated ERPs)."""

from __future__ import annotations

import typer

from sincro.domain import resolve
from sincro.domains import installed

#: Sub-commands that belong to no domain: ``(name, "module:typer_app")``; an empty name adds
#: the app's commands to the top level.
TOOLS: tuple[tuple[str, str], ...] = (
    ("", "sincro.runtime:runtime_app"),
    ("", "sincro.demo.cli:demo_app"),
    ("simulate", "sincro.simulators.cli:simulate_app"),
)


def build_app() -> typer.Typer:
    root = typer.Typer(help="Sincro: real-time inventory and operations hub.", no_args_is_help=True)
    contributions = [*TOOLS, *(entry for domain in installed() for entry in domain.cli)]
    for name, path in contributions:
        sub: typer.Typer = resolve(path)
        if name:
            root.add_typer(sub, name=name)
        else:
            root.add_typer(sub)
    return root


app = build_app()


def main() -> None:
    app()


if __name__ == "__main__":
    main()
