"""Simulated REST ERPs on real sockets (stdlib ``ThreadingHTTPServer``), for the demo, the
tests and the benchmark.

- :class:`ProtheusSimulator`: SB1 products (with list price B1_PRV1, lead time B1_PE, pack
  size B1_QE, supplier B1_PROC), SB2 balances, SA1 customers (birth date A1_DTNASC,
  registration A1_DTCAD, and the custom plan field A1_XPLANO), SE1 receivables (payment date
  E1_BAIXA, status E1_STATUS), and two custom tables assumed for the operator: ZPL telecom
  plans and ZPR promotions; ``page``/``pageSize`` pagination and an inclusive ``S_T_A_M_P_``
  filter; Protheus habits (space-padded codes, YYYYMMDD dates, decimal-comma money);
  ``POST /rest/api/v1/movements`` takes write-backs (idempotent by ``idempotency_key``).
- :class:`DocumentsSimulator`: product documents with versions, cursor pagination.

Data is deterministic from a seed and generated lazily, record by record, so 1.8 million
balances cost no memory. Products, stores and DCs are the demo operator's (``CEL-000001``…,
``LJ0001``…, ``CD01``…); a balance equals the demo's opening stock except about 1 in 100.

Faults are set by options or at run time with ``POST /_faults`` (``latency_ms``,
``error_rate``, ``outage``, ``rate_limit: {every, retry_after}``, ``bad_record_rate``,
``duplicate_rate``, ``fail_page``); ``{"reset": true}`` clears them.
"""

from __future__ import annotations

import base64
import bisect
import datetime as dt
import hashlib
import random
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson

from sincro.demo.catalog import generate_products
from sincro.demo.cities import CITIES
from sincro.demo.offers import PLANS, list_price, plan_for, promotions, replenishment
from sincro.demo.operator import generate_locations, stock_quantities
from sincro.text_pt import cnpj_check_digits, cpf_check_digits, plain

BASE_TIME = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
GROUPS = {
    "smartphones": "0001",
    "capas": "0002",
    "peliculas": "0003",
    "cabos": "0004",
    "carregadores": "0005",
    "powerbanks": "0006",
    "fones": "0007",
    "smartwatches": "0008",
    "chips": "0009",
    "roteadores": "0010",
}
FIRST = ("Ana", "Bruno", "Carla", "Diego", "Eduarda", "Felipe", "Gabriela", "Heitor")
LAST = ("Silva", "Santos", "Oliveira", "Souza", "Lima", "Pereira", "Ferreira", "Costa")


def filial_for(location_code: str) -> str:
    """The demo ERP's branch (B2_FILIAL) for a Sincro location: LJ0001 -> 0001, CD01 -> D001."""
    if location_code.startswith("LJ"):
        return location_code[2:]
    if location_code.startswith("CD"):
        return f"D{int(location_code[2:]):03d}"
    return location_code


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse_iso(text: str) -> dt.datetime:
    moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _hash(*parts: Any) -> float:
    """A deterministic number in [0, 1) for the given parts."""
    digest = hashlib.blake2b(repr(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def _brl(value: Decimal) -> str:
    """1234.5 -> '1.234,50' (how the simulated ERP formats money)."""
    whole, cents = f"{value:.2f}".split(".")
    return f"{int(whole):,}".replace(",", ".") + "," + cents


def cpf_digits(seed: int) -> str:
    """A valid CPF (digits only), the same for the same seed."""
    rng = random.Random(seed)
    base = "".join(str(rng.randrange(10)) for _ in range(9))
    return base + cpf_check_digits(base)


def cnpj_digits(seed: int) -> str:
    """A valid CNPJ of a head office (branch 0001), the same for the same seed."""
    rng = random.Random(seed)
    base = "".join(str(rng.randrange(10)) for _ in range(8)) + "0001"
    return base + cnpj_check_digits(base)


@dataclass
class Faults:
    latency_ms: float = 0.0
    error_rate: float = 0.0
    outage: bool = False
    rate_limit: dict[str, float] | None = None  # {"every": N, "retry_after": seconds}
    bad_record_rate: float = 0.0
    duplicate_rate: float = 0.0
    fail_page: int | None = None  # this page number always answers HTTP 500

    def update(self, changes: dict[str, Any]) -> None:
        if changes.get("reset"):
            self.__init__()  # type: ignore[misc]
        for name, value in changes.items():
            if name != "reset":
                if name not in self.__dataclass_fields__:
                    raise ValueError(f"unknown fault {name!r}")
                setattr(self, name, value)


@dataclass
class Table:
    """A lazily generated, stamp-ordered table with a few changed records appended."""

    count: int
    make: Callable[[int], dict[str, Any]]  # index -> record (without S_T_A_M_P_)
    stamp: Callable[[int], dt.datetime]  # non-decreasing in the index
    key: Callable[[dict[str, Any]], tuple[str, ...]]
    changed: dict[tuple[str, ...], tuple[dt.datetime, dict[str, Any]]] = field(default_factory=dict)
    changed_index: list[int] = field(default_factory=list)  # sorted base indices overridden
    # records first..first+count-1 with their S_T_A_M_P_, at once (what make and stamp give)
    make_many: Callable[[int, int], list[dict[str, Any]]] | None = None

    def current(self, index: int) -> dict[str, Any]:
        record = self.make(index)
        hit = self.changed.get(self.key(record))
        if hit is not None:
            return dict(hit[1])
        return record

    def change(self, index: int | None, record: dict[str, Any], now: dt.datetime) -> None:
        """Replace a record; it moves to the end of the stamp order (stamp >= every other)."""
        key = self.key(record)
        if self.count:
            now = max(now, self.stamp(self.count - 1) + dt.timedelta(microseconds=1))
        if self.changed:
            latest = max(s for s, _ in self.changed.values())
            now = max(now, latest + dt.timedelta(microseconds=1))
        self.changed.pop(key, None)
        self.changed[key] = (now, record)
        if index is not None and index not in self.changed_index:
            bisect.insort(self.changed_index, index)

    def select(self, since: dt.datetime | None, offset: int, limit: int) -> tuple[list[Any], int]:
        """Records with stamp >= since in (stamp, index) order: one page and the total."""
        start = 0 if since is None else bisect.bisect_left(range(self.count), since, key=self.stamp)
        skipped = len(self.changed_index) - bisect.bisect_left(self.changed_index, start)
        base_total = self.count - start - skipped
        tail = [(s, r) for s, r in self.changed.values() if since is None or s >= since]
        tail.sort(key=lambda pair: pair[0])
        out: list[Any] = []
        position = offset
        make, stamp_of, changed = self.make, self.stamp, self.changed_index
        if self.make_many is not None and not changed and position < base_total:
            out = self.make_many(start + position, min(limit, base_total - position))
            position += len(out)
        moment, text = None, ""  # consecutive records share stamps (SB2: 1,000 per second)
        while len(out) < limit and position < base_total:
            index = self._nth_unchanged(start, position) if changed else start + position
            record = make(index)
            at = stamp_of(index)
            if at != moment:
                moment, text = at, _iso(at)
            record["S_T_A_M_P_"] = text
            out.append(record)
            position += 1
        for stamp, record in tail[max(0, position - base_total) :]:
            if len(out) >= limit:
                break
            out.append({**record, "S_T_A_M_P_": _iso(stamp)})
        return out, base_total + len(tail)

    def _nth_unchanged(self, start: int, n: int) -> int:
        candidate = start + n
        while True:
            skipped = bisect.bisect_right(self.changed_index, candidate) - bisect.bisect_left(
                self.changed_index, start
            )
            nxt = start + n + skipped
            if nxt == candidate:
                return candidate
            candidate = nxt


class SimulatedErp:
    """An HTTP server on 127.0.0.1 with fault injection and admin endpoints."""

    name = "erp"

    def __init__(self, host: str = "127.0.0.1", port: int = 0, seed: int = 7) -> None:
        self.seed = seed
        self.faults = Faults()
        self.stats = {"requests": 0, "errors": 0, "rate_limited": 0, "dropped": 0}
        self._lock = threading.Lock()
        self._rng = random.Random(seed)
        self.server = ThreadingHTTPServer((host, port), _handler_for(self))
        self.server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> SimulatedErp:
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> SimulatedErp:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # Subclasses answer their own routes.
    def route(
        self, method: str, path: str, query: dict[str, str], body: Any
    ) -> tuple[int, Any, dict[str, str]]:
        return 404, {"error": f"no route {method} {path}"}, {}

    def handle(
        self, method: str, path: str, query: dict[str, str], raw: bytes
    ) -> tuple[int, Any, dict[str, str]] | None:
        """(status, JSON body, headers), or None to drop the connection."""
        try:
            body = orjson.loads(raw) if raw else None
        except orjson.JSONDecodeError:
            return 400, {"error": "body is not JSON"}, {}
        if path == "/_faults":
            if method == "POST":
                try:
                    with self._lock:
                        self.faults.update(body or {})
                except (ValueError, TypeError) as exc:
                    return 400, {"error": str(exc)}, {}
            return 200, asdict(self.faults), {}
        if path == "/_stats":
            return 200, dict(self.stats), {}
        if path == "/_health":
            return 200, {"status": "ok"}, {}
        with self._lock:
            self.stats["requests"] += 1
            faults = Faults(**asdict(self.faults))
            count, roll = self.stats["requests"], self._rng.random()
        if faults.latency_ms:
            time.sleep(faults.latency_ms / 1000)
        if faults.outage:
            self.stats["dropped"] += 1
            return None
        limit = faults.rate_limit
        if limit and limit.get("every") and count % int(limit["every"]) == 0:
            self.stats["rate_limited"] += 1
            retry_after = str(int(limit.get("retry_after", 1)))
            return 429, {"error": "too many requests"}, {"Retry-After": retry_after}
        if roll < faults.error_rate:
            self.stats["errors"] += 1
            return 500, {"error": "simulated internal error"}, {}
        if faults.fail_page is not None and query.get("page") == str(faults.fail_page):
            self.stats["errors"] += 1
            return 500, {"error": f"simulated failure of page {faults.fail_page}"}, {}
        try:
            return self.route(method, path, query, body)
        except (ValueError, KeyError) as exc:
            return 400, {"error": f"bad request: {exc}"}, {}

    def corrupt(self, table: str, record: dict[str, Any], index: int) -> dict[str, Any]:
        return record

    def decorate(self, table: str, records: list[dict[str, Any]], offset: int) -> list[Any]:
        """Apply bad-record and duplicate faults to a page (deterministic per record)."""
        bad, dup = self.faults.bad_record_rate, self.faults.duplicate_rate
        if not bad and not dup:
            return records
        out: list[Any] = []
        for i, record in enumerate(records, start=offset):
            if bad and _hash(self.seed, table, "bad", i) < bad:
                record = self.corrupt(table, dict(record), i)
            out.append(record)
            if dup and _hash(self.seed, table, "dup", i) < dup:
                out.append(dict(record))
        return out


def _handler_for(sim: SimulatedErp) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            return None

        def _serve(self, method: str) -> None:
            parts = urlsplit(self.path)
            query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            answer = sim.handle(method, parts.path, query, raw)
            if answer is None:
                self.close_connection = True
                return
            status, body, headers = answer
            data = orjson.dumps(body)
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            self._serve("GET")

        def do_POST(self) -> None:
            self._serve("POST")

    return Handler


def _page_params(query: dict[str, str]) -> tuple[int, int]:
    page, size = int(query.get("page", "1")), int(query.get("pageSize", "100"))
    if page < 1 or not 1 <= size <= 10_000:
        raise ValueError("page must be >= 1 and pageSize between 1 and 10000")
    return page, size


class ProtheusSimulator(SimulatedErp):
    """A Protheus-style ERP: SB1, SB2, SA1, SE1 and a write-back endpoint."""

    name = "protheus"

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        seed: int = 7,
        *,
        products: int = 1000,
        stores: int = 1800,
        dcs: int = 10,
        customers: int = 20_000,
        receivables: int | None = None,
    ) -> None:
        super().__init__(host, port, seed)
        self.products = generate_products(count=products, seed=seed)
        self.locations = generate_locations(stores=stores, dcs=dcs, seed=seed)
        self.promotions = promotions(self.products, BASE_TIME.date())
        self.documents_posted: dict[str, dict[str, Any]] = {}
        self.movements_received: list[dict[str, Any]] = []
        self.customer_count = customers
        n_products, n_receivables = (
            len(self.products),
            (2 * customers if receivables is None else receivables),
        )
        self.tables = {
            "SB1": Table(
                len(self.products),
                self._product,
                lambda i: BASE_TIME + dt.timedelta(seconds=i),
                lambda r: (r["B1_COD"],),
            ),
            "SB2": Table(
                len(self.locations) * n_products,
                self._balance,
                lambda i: BASE_TIME + dt.timedelta(seconds=i // n_products),
                lambda r: (r["B2_FILIAL"], r["B2_COD"], r["B2_LOCAL"]),
                make_many=self._balances,
            ),
            "SA1": Table(
                customers,
                self._customer,
                lambda i: BASE_TIME + dt.timedelta(seconds=i),
                lambda r: (r["A1_COD"], r["A1_LOJA"]),
            ),
            "SE1": Table(
                n_receivables,
                self._receivable,
                lambda i: BASE_TIME + dt.timedelta(seconds=i),
                lambda r: (r["E1_PREFIXO"], r["E1_NUM"], r["E1_PARCELA"]),
            ),
            "ZPL": Table(
                len(PLANS),
                self._plan,
                lambda i: BASE_TIME + dt.timedelta(seconds=i),
                lambda r: (r["ZPL_COD"],),
            ),
            "ZPR": Table(
                len(self.promotions),
                self._promotion,
                lambda i: BASE_TIME + dt.timedelta(seconds=i),
                lambda r: (r["ZPR_COD"],),
            ),
        }
        self._sku_index = {p.sku: i for i, p in enumerate(self.products)}
        self._filial_index = {filial_for(loc.code): i for i, loc in enumerate(self.locations)}
        # what 1.8 million balances repeat, computed once (the bench's simulator CPU)
        self._filials = [filial_for(loc.code) for loc in self.locations]
        self._padded_skus = [p.sku.ljust(15) for p in self.products]
        self._categories = [p.category for p in self.products]

    # -- records --
    def _product(self, i: int) -> dict[str, Any]:
        p = self.products[i]
        lead, pack, supplier = replenishment(p, self.seed)
        return {
            "B1_FILIAL": "  ",
            "B1_COD": p.sku.ljust(15),
            "B1_DESC": p.name,
            "B1_CODBAR": p.ean,
            "B1_GRUPO": GROUPS.get(p.category, "9999"),
            "B1_UM": p.unit,
            "B1_PRV1": float(list_price(p, self.seed)),
            "B1_PE": lead,
            "B1_QE": float(pack),
            "B1_PROC": supplier.ljust(6),
        }

    def _plan(self, i: int) -> dict[str, Any]:
        plan = PLANS[i]
        kinds = {"pre": "1", "controle": "2", "pos": "3", "fibra": "4", "combo": "5"}
        return {
            "ZPL_FILIAL": "  ",
            "ZPL_COD": plan.code.ljust(15),
            "ZPL_DESC": plan.name,
            "ZPL_TIPO": kinds[plan.kind],
            "ZPL_VALOR": _brl(plan.monthly_price),
            "ZPL_FRANQ": plan.data_gb or 0,  # 0: ilimitada / não se aplica
            "ZPL_MSBLQL": "2",  # not blocked
        }

    def _promotion(self, i: int) -> dict[str, Any]:
        promo = self.promotions[i]
        channels = {"todos": "1", "loja": "2", "online": "3", "app": "4", "televendas": "5"}
        return {
            "ZPR_FILIAL": "  ",
            "ZPR_COD": promo.code.ljust(20),
            "ZPR_DESC": promo.name,
            "ZPR_PROD": (promo.sku or "").ljust(15),
            "ZPR_PLANO": (promo.plan or "").ljust(15),
            "ZPR_PERC": float(promo.discount_percent or 0),
            "ZPR_PRECO": float(promo.promo_price or 0),
            "ZPR_DTINI": promo.valid_from.strftime("%Y%m%d"),
            "ZPR_DTFIM": promo.valid_to.strftime("%Y%m%d") if promo.valid_to else "        ",
            "ZPR_CANAL": channels[promo.channel],
            "ZPR_MSBLQL": "2",
        }

    def erp_quantity(self, product_index: int, location_index: int) -> int:
        """The ERP's balance: the demo's opening stock, off by a little for ~1 in 100."""
        kind = self.locations[location_index].kind
        return self._erp_quantity(product_index, location_index, kind, self._categories)

    def _erp_quantity(
        self, product_index: int, location_index: int, kind: str, categories: list[str]
    ) -> int:
        on_hand, _ = stock_quantities(
            product_index, location_index, kind, categories[product_index], self.seed
        )
        x = (product_index * 0x9E3779B1 + location_index * 0x7FEB352D + 12345) & 0xFFFFFFFF
        if x % 97 == 0:
            on_hand = max(0, on_hand + (x >> 8) % 7 - 2)
        return on_hand

    def _balance(self, i: int) -> dict[str, Any]:
        location_index, product_index = divmod(i, len(self.products))
        return {
            "B2_FILIAL": self._filials[location_index],
            "B2_COD": self._padded_skus[product_index],
            "B2_LOCAL": "01",
            "B2_QATU": float(self.erp_quantity(product_index, location_index)),
        }

    def _balances(self, first: int, count: int) -> list[dict[str, Any]]:
        """Balances first..first+count-1 with their stamps: ``_balance`` and the SB2 stamp
        (one second per location) a location at a time, for the 1.8 million of a full sync."""
        n = len(self.products)
        out: list[dict[str, Any]] = []
        quantity, padded, categories = self._erp_quantity, self._padded_skus, self._categories
        end = first + count
        while first < end:
            location_index, product_index = divmod(first, n)
            upto = min(end - location_index * n, n)
            filial, kind = self._filials[location_index], self.locations[location_index].kind
            stamp = _iso(BASE_TIME + dt.timedelta(seconds=location_index))
            out += [
                {
                    "B2_FILIAL": filial,
                    "B2_COD": padded[p],
                    "B2_LOCAL": "01",
                    "B2_QATU": float(quantity(p, location_index, kind, categories)),
                    "S_T_A_M_P_": stamp,
                }
                for p in range(product_index, upto)
            ]
            first += upto - product_index
        return out

    def _customer(self, i: int) -> dict[str, Any]:
        rng = random.Random(self.seed * 7_919 + i)
        first, last = rng.choice(FIRST), rng.choice(LAST)
        company = rng.random() < 0.2
        city = CITIES[rng.randrange(len(CITIES))]
        name = f"{last} Comércio Ltda" if company else f"{first} {last}"
        since = BASE_TIME.date() - dt.timedelta(days=rng.randrange(730))  # two years of sign-ups
        born = dt.date(1950, 1, 1) + dt.timedelta(days=rng.randrange(365 * 56))
        return {
            "A1_FILIAL": "  ",
            "A1_COD": f"{i + 1:06d}",
            "A1_LOJA": "01",
            "A1_NOME": name.upper().ljust(40),
            "A1_PESSOA": "J" if company else "F",
            "A1_CGC": cnpj_digits(rng.randrange(10**9)) if company else cpf_digits(i + self.seed),
            "A1_EMAIL": f"{plain(first)}.{plain(last)}{i + 1}@exemplo.com.br",
            "A1_TEL": f"11 9{rng.randrange(10**7, 10**8)}",
            "A1_MUN": city.name.upper(),
            "A1_EST": city.state,
            "A1_DTNASC": "        " if company else born.strftime("%Y%m%d"),
            "A1_DTCAD": since.strftime("%Y%m%d"),
            "A1_XPLANO": plan_for(rng.random()).code.ljust(15),  # custom field
        }

    def _receivable(self, i: int) -> dict[str, Any]:
        rng = random.Random(self.seed * 104_729 + i)
        customers = max(1, self.customer_count)
        issued = dt.date(2026, 1, 1) - dt.timedelta(days=rng.randrange(180))
        value = Decimal(rng.randrange(1_990, 899_900)) / 100
        paid = rng.random() < 0.6
        due = issued + dt.timedelta(days=30)
        paid_on = due + dt.timedelta(days=rng.randrange(-10, 6)) if paid else None
        return {
            "E1_FILIAL": "  ",
            "E1_PREFIXO": "NF ",
            "E1_NUM": f"{i + 1:09d}",
            "E1_PARCELA": "A",
            "E1_TIPO": "NF ",
            "E1_CLIENTE": f"{i % customers + 1:06d}",
            "E1_LOJA": "01",
            "E1_EMISSAO": issued.strftime("%Y%m%d"),
            "E1_VENCTO": due.strftime("%Y%m%d"),
            "E1_VALOR": _brl(value),
            "E1_SALDO": "0,00" if paid else _brl(value),
            "E1_BAIXA": paid_on.strftime("%Y%m%d") if paid_on else "        ",
            "E1_STATUS": "B" if paid else "A",  # baixado / aberto
        }

    def corrupt(self, table: str, record: dict[str, Any], index: int) -> dict[str, Any]:
        if table == "SA1":
            cgc = record["A1_CGC"]
            record["A1_CGC"] = cgc[:-1] + str((int(cgc[-1]) + 1) % 10)
        elif table == "SE1":
            record["E1_VENCTO"] = "20261345"
        elif table == "SB1":
            record["B1_DESC"] = "   "
        elif table == "SB2":
            record["B2_QATU"] = "N/D"  # not a number (a negative balance is valid: taken as 0)
        elif table == "ZPL":
            record["ZPL_TIPO"] = "9"  # no such plan kind
        elif table == "ZPR":
            record["ZPR_DTINI"] = "20261345"
        return record

    # -- routes --
    def route(
        self, method: str, path: str, query: dict[str, str], body: Any
    ) -> tuple[int, Any, dict[str, str]]:
        prefix = "/rest/api/v1/"
        if method == "GET" and path.startswith(prefix) and path[len(prefix) :] in self.tables:
            name = path[len(prefix) :]
            page, size = _page_params(query)
            since = _parse_iso(query["S_T_A_M_P_"]) if query.get("S_T_A_M_P_") else None
            offset = (page - 1) * size
            with self._lock:
                items, total = self.tables[name].select(since, offset, size)
            items = self.decorate(name, items, offset)
            return (
                200,
                {
                    "items": items,
                    "hasNext": offset + size < total,
                    "total": total,
                    "page": page,
                    "pageSize": size,
                },
                {},
            )
        if method == "POST" and path == prefix + "movements":
            return self.post_movements(body)
        return 404, {"error": f"no route {method} {path}"}, {}

    def post_movements(self, body: Any) -> tuple[int, Any, dict[str, str]]:
        """Book Sincro's movements once per idempotency key; answers the document number."""
        if not isinstance(body, dict) or not body.get("idempotency_key"):
            return 400, {"error": "idempotency_key is required"}, {}
        lines = body.get("movements")
        if not isinstance(lines, list) or not lines:
            return 400, {"error": "movements must be a non-empty list"}, {}
        key = str(body["idempotency_key"])
        with self._lock:
            if key in self.documents_posted:
                return 200, self.documents_posted[key], {}
            now = dt.datetime.now(dt.UTC)
            table = self.tables["SB2"]
            for line in lines:
                p = self._sku_index.get(str(line.get("B2_COD", "")).strip())
                loc = self._filial_index.get(str(line.get("B2_FILIAL", "")).strip())
                if p is None or loc is None or not isinstance(line.get("quantity"), int):
                    return 422, {"error": f"unknown product/branch or bad quantity: {line}"}, {}
            for line in lines:
                p = self._sku_index[str(line["B2_COD"]).strip()]
                loc = self._filial_index[str(line["B2_FILIAL"]).strip()]
                index = loc * len(self.products) + p
                record = table.current(index)
                record["B2_QATU"] = float(max(0, int(record["B2_QATU"]) + line["quantity"]))
                table.change(index, record, now)
                self.movements_received.append(dict(line))
            answer = {
                "document": f"MV{len(self.documents_posted) + 1:07d}",
                "posted_at": _iso(now),
                "lines": len(lines),
            }
            self.documents_posted[key] = answer
        return 201, answer, {}


class DocumentsSimulator(SimulatedErp):
    """A JSON document service: datasheets, leaflets and manuals, several versions of some."""

    name = "documents"
    KINDS = ("datasheet", "leaflet", "manual", "ficha")

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        seed: int = 7,
        *,
        documents: int = 100_000,
        products: int = 1000,
    ) -> None:
        super().__init__(host, port, seed)
        self.products = generate_products(count=products, seed=seed)
        # The change feed, oldest first: every first version, then the later ones.
        feed = [(d, 1) for d in range(1, documents + 1)]
        for version in (2, 3):
            feed.extend(
                (d, version)
                for d in range(1, documents + 1)
                if _hash(seed, "versions", d) < (0.12 if version == 2 else 0.02)
            )
        self.feed = feed
        self.latest = {d: v for d, v in feed}

    def publish(self, document: int) -> int:
        """A new version of a document, appended to the feed; returns the version."""
        with self._lock:
            version = self.latest.get(document, 0) + 1
            self.latest[document] = version
            self.feed.append((document, version))
        return version

    def record(self, position: int) -> dict[str, Any]:
        d, version = self.feed[position]
        product = self.products[d % len(self.products)]
        kind = self.KINDS[d % len(self.KINDS)]
        effective = dt.date(2025, 1, 1) + dt.timedelta(days=(d % 300) + 30 * (version - 1))
        label = "Ficha técnica" if kind in ("datasheet", "ficha") else kind.title()
        title = f"{label} — {product.name}"
        body = (
            f"<h1>{title}</h1><p>Versão {version} &mdash; vigente a partir de "
            f"{effective:%d/%m/%Y}.</p><ul><li>Código: {product.sku}</li><li>EAN: {product.ean}"
            f"</li><li>Garantia: 12 meses</li></ul><p>Condições &amp; especificações sujeitas "
            f"a alteração sem aviso.</p><script>track({d})</script>"
        )
        return {
            "id": f"DOC-{d:06d}",
            "sku": product.sku,
            "title": title,
            "body_html": body,
            "language": "en-US" if d % 10 == 0 else "pt-BR",
            "version": version,
            "effective_date": effective.isoformat(),
            "type": kind,
            "updated_at": _iso(BASE_TIME + dt.timedelta(seconds=position)),
        }

    def corrupt(self, table: str, record: dict[str, Any], index: int) -> dict[str, Any]:
        record["title"] = ""
        return record

    def route(
        self, method: str, path: str, query: dict[str, str], body: Any
    ) -> tuple[int, Any, dict[str, str]]:
        if method == "GET" and path == "/api/v1/documents":
            limit = int(query.get("limit", "100"))
            if not 1 <= limit <= 10_000:
                raise ValueError("limit must be between 1 and 10000")
            start = _decode_cursor(query["cursor"]) if query.get("cursor") else 0
            with self._lock:
                end = min(len(self.feed), start + limit)
                records = [self.record(p) for p in range(start, end)]
                remaining = len(self.feed) - start
                more = end < len(self.feed)
            return (
                200,
                {
                    "data": self.decorate("documents", records, start),
                    "next_cursor": _encode_cursor(end),
                    "has_more": more,
                    "total_estimate": remaining,
                },
                {},
            )
        if method == "POST" and path == "/_publish":
            number = int(str((body or {}).get("id", "")).removeprefix("DOC-"))
            return 201, {"id": f"DOC-{number:06d}", "version": self.publish(number)}, {}
        return 404, {"error": f"no route {method} {path}"}, {}


def _encode_cursor(position: int) -> str:
    return base64.urlsafe_b64encode(f"pos:{position}".encode()).decode()


def _decode_cursor(token: str) -> int:
    try:
        text = base64.urlsafe_b64decode(token.encode()).decode()
        return int(text.removeprefix("pos:"))
    except (ValueError, UnicodeDecodeError):
        raise ValueError(f"invalid cursor {token!r}") from None


def alias_demo_locations(session: Any, source: str) -> int:
    """Map the simulated ERP's branches onto the demo's locations (LocationAlias rows for
    every location with a demo-style code); returns how many were added."""
    from sqlalchemy import select

    from sincro.catalog.models import Location
    from sincro.connectors.models import LocationAlias

    known = set(session.scalars(select(LocationAlias.plant).where(LocationAlias.source == source)))
    added = 0
    for location_id, code in session.execute(select(Location.id, Location.code)):
        plant = filial_for(code)
        if plant != code and plant not in known:
            session.add(
                LocationAlias(source=source, plant=plant, storage="", location_id=location_id)
            )
            added += 1
    session.flush()
    return added
