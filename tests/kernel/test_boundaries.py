"""The boundaries of docs/architecture.md, checked over the source tree (pure AST, no import).

1. ``cross-domain``: a module of domain X never imports ``sincro.<Y>.repository`` or
   ``sincro.<Y>.models`` (nor ``sincro.<Y>.*_repository``) of another domain Y, in any import
   form, at any depth (imports inside functions count). Console pages under
   ``sincro/console/<y>/`` belong to domain y (``CONSOLE_SECTIONS`` maps sections whose folder
   is not named after their domain).
2. ``kernel``: kernel modules (``sincro/*.py``) import no domain's repository or models.
3. ``stock-tables``: no module outside ``sincro/inventory/`` (migrations excepted) imports the
   stock models (``STOCK_MODELS``) or holds a SQL-looking string constant naming a stock table.

``import-linter`` expresses rules 1-2 as "forbidden"/"independence" contracts, but it needs one
contract per pair of domains (or wildcards per domain), cannot tell SQL in string constants from
prose (rule 3), and would be a new dependency; forty lines of ``ast`` do all three.

``KNOWN_VIOLATIONS`` lists what is still broken; the test fails on any violation not listed and
on any listed one that no longer occurs, so the list can only shrink.
"""

from __future__ import annotations

import ast
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

import sincro

SRC = Path(sincro.__file__).resolve().parent

# Used when ``sincro.domains`` (the one list of installed domains) does not exist yet; a new
# domain is one more name here until then.
FALLBACK_DOMAINS = ("access", "catalog", "connectors", "customers", "feed", "inventory")
# Console sections whose folder is not named after the domain they show.
CONSOLE_SECTIONS = {"search": "catalog", "sync": "connectors"}
STOCK_MODELS = frozenset({"StockLevel", "Movement", "Reservation", "ReservationLine"})
STOCK_TABLE = re.compile(r"\b(stock_levels|movements|reservations|reservation_lines)\b")
SQL_LIKE = re.compile(
    r"\b(SELECT|INSERT|UPDATE|DELETE|FROM|JOIN|INTO|WHERE|COPY|TRUNCATE)\b"
    r"|^\s*(select|insert|update|delete|with|copy|truncate)\b"
)
PRIVATE_MODULES = ("repository", "models")


def installed_domains() -> tuple[str, ...]:
    """Package names of the installed domains: ``sincro.domains.INSTALLED`` when it exists."""
    try:
        from sincro.domains import INSTALLED  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return FALLBACK_DOMAINS
    return tuple(str(name).rsplit(".", 1)[-1] for name in INSTALLED)


def owner(parts: tuple[str, ...], domains: tuple[str, ...]) -> str | None:
    """The domain a module (path parts under ``sincro/``) belongs to, ``"kernel"`` or None."""
    if len(parts) == 1 or (parts[0] == "console" and len(parts) == 2):
        return "kernel"  # top-level modules and the console's shell
    if parts[0] in domains:
        return parts[0]
    if parts[0] == "console" and len(parts) > 2:
        section = CONSOLE_SECTIONS.get(parts[1], parts[1])
        return section if section in domains else None
    return None


def imported_modules(node: ast.Import | ast.ImportFrom, package: str) -> Iterator[str]:
    """Every module an import statement may load: ``from a import b`` yields ``a`` and ``a.b``."""
    if isinstance(node, ast.Import):
        yield from (alias.name for alias in node.names)
        return
    base = node.module or ""
    if node.level:
        anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
        base = f"{anchor}.{base}" if base else anchor
    yield base
    yield from (f"{base}.{alias.name}" for alias in node.names)


def private_module(module: str, domains: tuple[str, ...]) -> str | None:
    """The repository or models module of a domain that ``module`` is or is inside, else None."""
    parts = module.split(".")
    if len(parts) < 3 or parts[0] != "sincro" or parts[1] not in domains:
        return None
    for i, part in enumerate(parts[2:], start=3):
        if part in PRIVATE_MODULES or part.endswith("_repository"):
            return ".".join(parts[:i])
    return None


def docstrings(tree: ast.Module) -> set[int]:
    """ids of the docstring constants (prose, not SQL)."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            found.add(id(node.value))
    return found


def check_module(path: Path, root: Path, domains: tuple[str, ...]) -> Iterator[tuple[int, str]]:
    """(line, "rule: detail") for each boundary the module at ``path`` crosses."""
    parts = path.relative_to(root).with_suffix("").parts
    home = owner(parts, domains)
    package = ".".join(("sincro", *parts[:-1]))
    in_inventory = parts[0] in ("inventory", "migrations")
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    prose = docstrings(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom) and home is not None:
            private = {private_module(m, domains) for m in imported_modules(node, package)}
            for module in sorted(m for m in private if m and m.split(".")[1] != home):
                rule = "kernel" if home == "kernel" else "cross-domain"
                yield node.lineno, f"{rule}: imports {module}"
        if in_inventory:
            continue
        if isinstance(node, ast.ImportFrom):
            for alias in node.names:
                if alias.name in STOCK_MODELS:
                    yield node.lineno, f"stock-tables: imports {alias.name}"
        elif isinstance(node, ast.Attribute) and node.attr in STOCK_MODELS:
            yield node.lineno, f"stock-tables: uses .{node.attr}"
        elif (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and id(node) not in prose
            and SQL_LIKE.search(node.value)
        ):
            tables = sorted(set(STOCK_TABLE.findall(node.value)))
            if tables:
                yield node.lineno, f"stock-tables: SQL on {', '.join(tables)}"


def violations(root: Path, domains: tuple[str, ...] | None = None) -> list[str]:
    """``path:line: rule: detail`` for every boundary crossed under ``root`` (``src/sincro``)."""
    domains = domains if domains is not None else installed_domains()
    found = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root.parent).as_posix()
        found += [f"{rel}:{n}: {what}" for n, what in sorted(check_module(path, root, domains))]
    return found


def without_line(message: str) -> str:
    """``path: rule: detail``: allow-list entries survive edits that only move lines."""
    path, _line, rest = message.split(":", 2)
    return f"{path}:{rest}"


# Each entry is one occurrence (a file may appear several times), without its line number.
KNOWN_VIOLATIONS: Counter[str] = Counter()  # empty: keep it so


def test_boundaries_hold() -> None:
    found = Counter(without_line(m) for m in violations(SRC))
    new = sorted((found - KNOWN_VIOLATIONS).elements())
    gone = sorted((KNOWN_VIOLATIONS - found).elements())
    assert not new, "boundary violations:\n" + "\n".join(new)
    assert not gone, "fixed, remove from KNOWN_VIOLATIONS:\n" + "\n".join(gone)


# --- the check itself, on planted trees ------------------------------------------------------

DOMAINS = ("catalog", "inventory", "feed")


def plant(root: Path, files: dict[str, str]) -> Path:
    """A source tree ``<root>/sincro/...`` holding ``files``; its ``sincro`` folder."""
    src = root / "sincro"
    for name, text in files.items():
        path = src / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return src


@pytest.mark.parametrize(
    "statement",
    [
        "from sincro.catalog import repository",
        "from sincro.catalog import service, models",
        "from sincro.catalog.repository import products_by_sku",
        "import sincro.catalog.models as m",
        "import sincro.catalog.repository",
        "from ..catalog import repository",
        "def f():\n    from sincro.catalog.models import Product\n",
    ],
)
def test_cross_domain_import_is_reported(tmp_path: Path, statement: str) -> None:
    src = plant(tmp_path, {"feed/service.py": statement + "\n"})
    found = violations(src, DOMAINS)
    assert len(found) == 1 and found[0].startswith("sincro/feed/service.py:")
    assert ": cross-domain: imports sincro.catalog." in found[0]


def test_console_pages_belong_to_their_domain(tmp_path: Path) -> None:
    src = plant(
        tmp_path,
        {
            "console/inventory/routes.py": "from sincro.catalog import repository\n"
            "from sincro.inventory import repository as inv\n",
            "console/search/routes.py": "from sincro.catalog import repository\n",
        },
    )
    assert violations(src, DOMAINS) == [
        "sincro/console/inventory/routes.py:1: cross-domain: imports sincro.catalog.repository"
    ]


def test_allowed_imports_are_not_reported(tmp_path: Path) -> None:
    src = plant(
        tmp_path,
        {
            "feed/service.py": "from sincro.catalog import service\n"
            "from sincro.catalog.schemas import Page\n"
            "from sincro.feed import repository\n"
            "from sincro.feed.models import Webhook\n"
            "from . import models\n",
            "demo/loader.py": "from sincro.catalog.models import Product\n",
        },
    )
    assert violations(src, DOMAINS) == []


def test_kernel_import_is_reported(tmp_path: Path) -> None:
    src = plant(tmp_path, {"app.py": "from sincro.inventory.models import Bucket\n"})
    assert violations(src, DOMAINS) == ["sincro/app.py:1: kernel: imports sincro.inventory.models"]


SQL_PLANTS = {
    "orm": ("from sincro.inventory.models import StockLevel\n", "imports StockLevel"),
    "attribute": ("import sincro.inventory.models as m\nm.Movement\n", "uses .Movement"),
    "insert": ('q = "INSERT INTO movements (a) VALUES (1)"\n', "SQL on movements"),
    "update": (
        'q = ("UPDATE stock_levels SET on_hand = 1 "\n     "FROM sap_chunk")\n',
        "SQL on stock_levels",
    ),
    "fstring": (
        'q = f"select * from reservation_lines where id = {1}"\n',
        "SQL on reservation_lines",
    ),
    "copy": ('q = "COPY stock_levels (a, b) FROM STDIN"\n', "SQL on stock_levels"),
}


@pytest.mark.parametrize("name", SQL_PLANTS)
def test_stock_table_access_outside_inventory_is_reported(tmp_path: Path, name: str) -> None:
    code, detail = SQL_PLANTS[name]
    src = plant(tmp_path, {"feed/service.py": code, "inventory/bulk.py": code})
    found = [m for m in violations(src, DOMAINS) if ": stock-tables: " in m]
    assert [m.split(": ", 1)[0].rsplit(":", 1)[0] for m in found] == ["sincro/feed/service.py"]
    assert found[0].endswith(f"stock-tables: {detail}")


def test_prose_and_migrations_may_name_stock_tables(tmp_path: Path) -> None:
    src = plant(
        tmp_path,
        {
            "feed/service.py": '"""Reads movements FROM the ledger."""\n'
            'LABEL = "reservations"\n'
            'MESSAGE = "as movimentações de estoque"\n',
            "migrations/versions/0001.py": 'op.execute("UPDATE stock_levels SET a = 1")\n',
        },
    )
    assert violations(src, DOMAINS) == []


def test_known_violations_compare_without_line_numbers() -> None:
    assert without_line("sincro/a.py:12: kernel: imports x") == "sincro/a.py: kernel: imports x"
