"""Getting the demo operator ready: migrate, load (with a progress bar), keys and a user."""

from __future__ import annotations

import os
import re
import socket
import time
from pathlib import Path

from rich.console import Console
from rich.panel import Panel
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from sincro.access import service as access
from sincro.access.models import ConsoleUser, Role
from sincro.catalog.models import Location, Product
from sincro.config import Settings
from sincro.db import database_for
from sincro.migrate import upgrade

DEMO_EMAIL = "demo@sincro.local"
DEMO_PASSWORD = "sincro-demo"
STAGE_LABELS = {
    "locations": "Lojas e CDs",
    "products": "Catálogo",
    "stock": "Posições de estoque",
    "ledger": "Razão de movimentos",
    "customers": "Clientes",
    "consents": "Consentimentos",
    "receivables": "Faturas e pagamentos",
    "offers": "Planos, preços e promoções",
    "history": "Histórico de vendas",
}


DEMO_CONNECTORS = """\
# The demo operator's ERPs, all simulated by `sincro simulate erp` (started by `make demo`).
# SAP owns stock (goods-movement files every few seconds, a snapshot of 20 plants now and
# then); Protheus sends products (with prices), plans, promotions, customers and receivables;
# the JSON ERP sends documents.
sources:
  - code: sap-ecc
    kind: sap_files
    name: SAP ECC (matriz)
    inbox: {erp}/sap/inbox
    outbox: {erp}/sap/outbox
  - code: protheus
    kind: protheus_rest
    name: Protheus (filiais)
    base_url: http://127.0.0.1:{protheus_port}
    mapping: protheus.yaml
    schedule: "*/3 * * * *"
    entities:
      - {{name: products}}
      - {{name: plans}}
      - {{name: promotions}}
      - {{name: customers}}
      - {{name: receivables}}
  - code: docs
    kind: json_rest
    name: Documentos de produto
    base_url: http://127.0.0.1:{docs_port}
    mapping: docs_json.yaml
    schedule: "*/5 * * * *"
    entities: [{{name: documents}}]
"""
_SIMULATOR_URL = re.compile(r"(base_url: http://127\.0\.0\.1:)(\d+)")


def _free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _any_free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def simulator_ports(preferred: int) -> tuple[int, int]:
    """Ports for the simulated Protheus and documents ERPs: ``preferred`` and the next one when
    both are free (``SINCRO_DEMO_SIMULATOR_PORT``, default 8201), else two the system picks
    (0: always picked)."""
    if preferred and _free(preferred) and _free(preferred + 1):
        return preferred, preferred + 1
    first = _any_free_port()
    second = _any_free_port()
    while second == first:
        second = _any_free_port()
    return first, second


def demo_connectors_file(settings: Settings, ports: tuple[int, int]) -> Path:
    """Write the demo's connectors file once (kept if the operator edited it), pointing the
    simulated REST ERPs at ``ports`` (Protheus, documents): each start rewrites those two
    addresses of the generated file, so it follows the ports the simulators listen on."""
    path = settings.var_dir / "connectors.yaml"
    if not path.exists():
        erp = (settings.var_dir / "erp").resolve()
        path.write_text(
            DEMO_CONNECTORS.format(erp=erp.as_posix(), protheus_port=ports[0], docs_port=ports[1]),
            encoding="utf-8",
        )
        return path
    text = path.read_text(encoding="utf-8")
    if text.startswith(DEMO_CONNECTORS.splitlines()[0]):
        chosen = iter(ports)
        rewritten = _SIMULATOR_URL.sub(lambda m: f"{m[1]}{next(chosen, m[2])}", text)
        if rewritten != text:
            path.write_text(rewritten, encoding="utf-8")
    return path


def prepare_demo(
    settings: Settings,
    stores: int,
    dcs: int,
    products: int,
    console: Console,
    history_days: int = 730,
    customers: int | None = None,
) -> Panel:
    """Migrate and load the demo operator once; returns what to print for the newcomer."""
    upgrade(settings.database_url)
    db = database_for(settings)
    with db.read() as session:
        loaded = (session.scalar(select(func.count()).select_from(Product)) or 0) > 0
    if loaded:
        console.print("[green]✓[/] demo operator already loaded; reusing it")
    else:
        people = settings.demo_customers if customers is None else customers
        _load_with_progress(
            settings.database_url,
            stores,
            dcs,
            products,
            console,
            history_days,
            customers=people,
            cycle_months=settings.demo_billing_cycle_months,
        )
    with db.write() as session:
        if session.scalar(select(ConsoleUser).where(ConsoleUser.email == DEMO_EMAIL)) is None:
            access.create_user(session, DEMO_EMAIL, "Operador Demo", DEMO_PASSWORD, Role.admin)
        _, admin_key = access.create_key(session, "demo-admin", Role.admin)
        _, channel_key = access.create_key(session, "demo-ecommerce", Role.channel)
        # the shop simulator's keys, handed to it through its environment, never printed
        _, shop_key = access.create_key(session, "demo-shop-simulator", Role.channel)
        store_codes = list(session.scalars(select(Location.code).where(Location.kind == "store")))
        _, tills_key = access.create_key(session, "demo-store-tills", Role.store, store_codes)
        demo_site_key(session, settings.port)
    os.environ["SINCRO_DEMO_SHOP_KEY"], os.environ["SINCRO_DEMO_TILLS_KEY"] = shop_key, tills_key
    return Panel(
        f"Console user: [bold]{DEMO_EMAIL}[/] / password [bold]{DEMO_PASSWORD}[/]\n"
        f"Admin API key:   [bold]{admin_key}[/]\n"
        f"E-commerce key:  [bold]{channel_key}[/]\n"
        "Try: curl -H 'X-API-Key: <e-commerce key>' "
        f"http://127.0.0.1:{settings.port}/v1/availability/CEL-000001\n"
        f"Chat widget demo: http://127.0.0.1:{settings.port}/assistant/demo",
        title="Demo credentials (shown once)",
    )


def demo_site_key(session: Session, port: int) -> None:
    """A widget site key for the console's own origins (the demo page at /assistant/demo
    embeds it); kept across runs: it is publishable, so nothing to show once."""
    from sincro.assistant.widget import sitekeys

    origins = [f"http://127.0.0.1:{port}", f"http://localhost:{port}"]
    if sitekeys.for_origin(session, origins[0]) is None:
        sitekeys.create(session, "demo-console", origins, allow_http=True)


def _load_with_progress(
    url: str,
    stores: int,
    dcs: int,
    products: int,
    console: Console,
    history_days: int,
    *,
    customers: int = 0,
    cycle_months: int = 2,
) -> None:
    from sincro.demo.history import load_history
    from sincro.demo.loader import load_demo

    started = time.perf_counter()
    columns = (
        TextColumn("{task.description:<22}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console) as progress:
        tasks: dict[str, TaskID] = {}

        def report(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = progress.add_task(STAGE_LABELS.get(stage, stage), total=total)
            progress.update(tasks[stage], completed=done, total=total)

        summary = load_demo(
            url,
            stores=stores,
            dcs=dcs,
            products=products,
            progress=report,
            customers=customers,
            cycle_months=cycle_months,
            offers=True,
        )
        history = load_history(url, days=history_days, progress=report) if history_days else None
    console.print(
        f"[green]✓[/] demo operator loaded in {time.perf_counter() - started:.1f} s: {summary}"
    )
    if history is not None:
        console.print(f"[green]✓[/] sales history: {history}")
