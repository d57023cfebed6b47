"""Search benchmark: 100,000 generated pt-BR product documents (datasheets, leaflets and
manuals about phones, chargers, SIM cards, routers…, most with several versions) plus their
products, indexed with ``reindex_all``, then warm searches timed in process with a mix of
exact, unaccented, inflected and misspelt queries, on SQLite and on PostgreSQL.

Two figures per database:

- ``uncached``: the query cache is off, so every search parses, expands typos, runs the
  full-text query and builds snippets (the vocabulary and the database pages are warm);
- ``cached``: the hot-query LRU on, the same mix repeated (what a burst of identical
  customer-service questions costs).

A scratch PostgreSQL database ``sincro_bench_search_<hex>`` is created and dropped; the SQLite
file lives in a temporary directory removed at the end.

    .venv/bin/python -m bench.search [--documents 100000] [--rounds 20] [--db sqlite,postgresql]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import insert

PG_ADMIN_URL = os.environ.get("BENCH_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")

QUERIES = {
    "exact": [
        "carregador turbo",
        "galaxy a15",
        "roteador wi-fi 6",
        "chip 5g",
        "fone bluetooth",
        "garantia",
        "bateria",
        "moto g84 manual",
        "cabo usb-c",
        "iphone 15",
    ],
    "accents": [
        "configuracao inicial",
        "instalacao do roteador",
        "protecao da tela",
        "ativacao do chip",
        "pre-pago",
        "fibra optica",
        "pelicula de vidro",
        "camera traseira",
    ],
    "stemmed": [
        "carregadores rapidos",
        "roteadores",
        "baterias",
        "capas protetoras",
        "instruções de segurança",
        "configurações de rede",
        "fones de ouvido",
        "atualizações",
    ],
    "typos": [
        "carregdor",
        "samsng galaxy",
        "roteadro",
        "motorla",
        "blutooth",
        "garantai",
        "xiaomy redmi",
        "bateira",
        "pelicla",
        "configuracão",
    ],
}

PHONES = [
    ("Samsung", "Galaxy", ["A05", "A15", "A25", "A35", "A55", "S23", "S24", "S24 Ultra", "M34"]),
    ("Motorola", "Moto", ["G04", "G14", "G24", "G34", "G54", "G84", "Edge 40", "Edge 50"]),
    ("Xiaomi", "Redmi", ["Note 12", "Note 13", "Note 13 Pro", "13C", "A3"]),
    ("Apple", "iPhone", ["13", "14", "15", "15 Pro", "15 Pro Max"]),
    ("Realme", "Realme", ["C53", "C67", "11 Pro"]),
]
COLOURS = ["preto", "azul", "verde", "grafite", "branco", "lilás", "prata"]
STORAGE = ["64GB", "128GB", "256GB", "512GB"]
ROUTERS = ["TP-Link", "Intelbras", "Huawei", "ZTE", "Mercusys", "D-Link"]
OPERATORS = ["Vivo", "Claro", "TIM", "Oi"]


def product_catalog(rng: random.Random) -> list[dict[str, Any]]:
    products: list[dict[str, Any]] = []

    def add(category: str, name: str, brand: str) -> None:
        n = len(products) + 1
        products.append(
            {
                "sku": f"SKU-{n:06d}",
                "ean": f"789{n:010d}",
                "name": name,
                "category": category,
                "unit": "UN",
                "brand": brand,
            }
        )

    for brand, line, models in PHONES:
        for model in models:
            for storage in STORAGE[: rng.randint(2, 4)]:
                for colour in rng.sample(COLOURS, 3):
                    name = f"Smartphone {brand} {line} {model} {storage} {colour}"
                    name = name.replace("Apple iPhone", "iPhone").replace("Realme Realme", "Realme")
                    add("celulares", name, brand)
    for watts in (15, 20, 25, 30, 45, 65):
        for brand in ("Samsung", "Motorola", "Xiaomi", "Apple", "Sincro"):
            for plug in ("USB-C", "USB-A", "duplo USB-C"):
                add("carregadores", f"Carregador turbo {watts}W {plug} {brand}", brand)
    for length in ("1m", "2m"):
        for kind in ("USB-C para USB-C", "USB-C para Lightning", "USB-A para USB-C"):
            for brand in ("Samsung", "Apple", "Sincro", "Motorola"):
                add("cabos", f"Cabo {kind} {length} {brand}", brand)
    for operator in OPERATORS:
        for plan in ("pré-pago", "controle", "pós-pago"):
            for tech in ("4G", "5G", "eSIM"):
                add("chips", f"Chip {tech} {plan} {operator}", operator)
    for brand in ROUTERS:
        for model in ("AX1500", "AX3000", "AC1200", "Mesh", "Repetidor"):
            add("roteadores", f"Roteador Wi-Fi 6 {model} {brand}", brand)
        add("roteadores", f"Modem fibra óptica ONT {brand}", brand)
    for brand in ("JBL", "Samsung", "Xiaomi", "Apple", "Motorola"):
        for model in ("Buds", "Tune", "Pro", "Lite"):
            add("fones", f"Fone de ouvido Bluetooth {brand} {model}", brand)
    for brand, line, models in PHONES:
        for model in models:
            add("capas", f"Capa protetora {line} {model} silicone", brand)
            add("peliculas", f"Película de vidro {line} {model}", brand)
    return products


SENTENCES: dict[str, list[str]] = {
    "common": [
        "Garantia de {months} meses contra defeitos de fabricação, mediante nota fiscal.",
        "Instruções de segurança: não utilize carregadores ou cabos não certificados pela Anatel.",
        "Em caso de dúvidas, procure uma loja {shop} ou ligue para a central de atendimento.",
        "Produto homologado pela Anatel sob o número {anatel}.",
        "Conteúdo da embalagem: {contents}.",
        "Mantenha o produto longe de umidade e de fontes de calor.",
        "Atualizações de software são distribuídas automaticamente pela rede.",
        "Troca em até 7 dias após a compra, com a embalagem original.",
    ],
    "celulares": [
        "Tela de {inches} polegadas com taxa de atualização de {hz} Hz.",
        "Bateria de {mah} mAh com carregamento rápido de {watts}W.",
        "Câmera traseira de {mp} MP e câmera frontal de {front} MP.",
        "Configuração inicial: ligue o aparelho, escolha o idioma e conecte-se ao Wi-Fi.",
        "Compatível com redes 5G, Wi-Fi 6 e Bluetooth 5.3.",
        "Proteção da tela com vidro Gorilla Glass e certificação IP{ip} contra água e poeira.",
        "Memória interna de {storage} expansível com cartão microSD.",
        "Para transferir seus contatos, use o aplicativo de migração do fabricante.",
    ],
    "carregadores": [
        "Carregador com potência de {watts}W e proteção contra sobretensão.",
        "Compatível com carregamento rápido PD e Quick Charge 3.0.",
        "Entrada bivolt de 100 a 240 V, frequência de 50/60 Hz.",
        "Os carregadores originais garantem a vida útil da bateria.",
        "Conecte o cabo USB-C ao aparelho antes de ligar o carregador na tomada.",
    ],
    "cabos": [
        "Cabo reforçado com revestimento em nylon trançado, comprimento de {length}.",
        "Transferência de dados de até 480 Mbps e carregamento de até {watts}W.",
        "Conectores resistentes a mais de 10.000 conexões.",
    ],
    "chips": [
        "Para ativar o chip, insira-o no aparelho e ligue para *{code} ou acesse o aplicativo.",
        "Ativação do chip pré-pago exige CPF e endereço do titular.",
        "O chip é compatível com redes 4G e 5G onde houver cobertura.",
        "Portabilidade: mantenha seu número ao trocar de operadora, sem custo.",
        "Recarga mínima de R$ {price},00 com validade de 30 dias.",
        "Pacote de dados de {gb} GB com WhatsApp ilimitado.",
    ],
    "roteadores": [
        "Instalação do roteador: conecte o cabo de rede da fibra óptica à porta WAN.",
        "Configuração pelo aplicativo ou pelo endereço 192.168.0.1 no navegador.",
        "Wi-Fi 6 dual band com velocidade de até {mbps} Mbps.",
        "Para redefinir as configurações de rede, mantenha o botão reset pressionado por 10 s.",
        "Cobertura de até {area} m² com {antennas} antenas externas.",
        "Atualize o firmware para corrigir falhas de segurança.",
    ],
    "fones": [
        "Fones de ouvido sem fio com Bluetooth 5.3 e cancelamento de ruído.",
        "Bateria com autonomia de até {hours} horas de reprodução.",
        "Para parear, mantenha o botão pressionado até a luz piscar em azul.",
        "Estojo de carregamento com porta USB-C.",
    ],
    "capas": [
        "Capa protetora em silicone com toque macio e proteção das câmeras.",
        "Bordas elevadas protegem a tela contra quedas.",
        "Compatível com carregamento por indução.",
    ],
    "peliculas": [
        "Película de vidro temperado 9H com proteção contra riscos.",
        "Aplicação: limpe a tela, alinhe a película e pressione do centro para as bordas.",
        "Compatível com a maioria das capas protetoras.",
    ],
}
KINDS = [
    ("datasheet", "Ficha técnica", 0.5),
    ("leaflet", "Folheto", 0.3),
    ("manual", "Manual do usuário", 0.2),
]
VERSION_NOTES = [
    "Versão revisada com novas condições comerciais.",
    "Atualização das informações de garantia.",
    "Correção da tabela de especificações.",
    "Inclusão de instruções de atualização de software.",
]


def _fill(template: str, rng: random.Random, product: dict[str, Any]) -> str:
    values = {
        "months": rng.choice([3, 6, 12, 24]),
        "shop": rng.choice(["Sincro", "credenciada", "autorizada"]),
        "anatel": f"{rng.randint(1000, 9999)}-{rng.randint(10, 99)}-{rng.randint(1000, 9999)}",
        "contents": rng.choice(
            ["aparelho, cabo USB-C e manual", "produto e guia rápido", "chip e manual"]
        ),
        "inches": rng.choice(["6,1", "6,5", "6,7", "6,8"]),
        "hz": rng.choice([60, 90, 120]),
        "mah": rng.choice(["4.000", "5.000", "6.000"]),
        "watts": rng.choice([15, 20, 25, 33, 45, 65]),
        "mp": rng.choice([13, 50, 108, 200]),
        "front": rng.choice([5, 8, 12, 32]),
        "ip": rng.choice([52, 67, 68]),
        "storage": rng.choice(STORAGE),
        "length": rng.choice(["1 metro", "2 metros"]),
        "code": rng.choice([144, 846, 1058]),
        "price": rng.choice([15, 20, 30]),
        "gb": rng.choice([4, 8, 15, 25]),
        "mbps": rng.choice([1500, 3000, 5400]),
        "area": rng.choice([80, 120, 200]),
        "antennas": rng.choice([2, 4, 6]),
        "hours": rng.choice([6, 8, 24, 30]),
    }
    return template.format(**values)


def documents(
    rng: random.Random, products: list[dict[str, Any]], count: int
) -> Iterator[dict[str, Any]]:
    """``count`` document rows: external documents with 1 to 4 versions, the last current."""
    made = 0
    external = 0
    while made < count:
        external += 1
        product = rng.choice(products)
        kind, label, _ = rng.choices(KINDS, weights=[k[2] for k in KINDS])[0]
        pool = SENTENCES[product["category"]] + SENTENCES["common"]
        base = [
            _fill(t, rng, product) for t in rng.sample(pool, min(len(pool), rng.randint(6, 10)))
        ]
        versions = min(rng.choice([1, 1, 2, 3, 4]), count - made)
        for version in range(1, versions + 1):
            body = [f"{product['name']}.", *base]
            if version > 1:
                body.append(VERSION_NOTES[(version + external) % len(VERSION_NOTES)])
            yield {
                "source": "pim",
                "external_id": f"DOC-{external:07d}",
                "version": version,
                "product_id": product["id"],
                "sku": product["sku"],
                "kind": kind,
                "title": f"{label} — {product['name']}",
                "body": "\n".join(body),
                "language": "pt-BR",
                "superseded": version < versions,
            }
            made += 1


def load(db: Any, count: int, seed: int = 7) -> tuple[int, int]:
    from sincro.catalog.models import Product, ProductDocument

    rng = random.Random(seed)
    catalog = product_catalog(rng)
    with db.write() as session:
        for product in catalog:
            row = Product(**{k: v for k, v in product.items() if k != "brand"})
            session.add(row)
            session.flush()
            product["id"] = row.id
    batch: list[dict[str, Any]] = []
    for row in documents(rng, catalog, count):
        batch.append(row)
        if len(batch) == 5000:
            with db.write() as session:
                session.execute(insert(ProductDocument), batch)
            batch = []
    if batch:
        with db.write() as session:
            session.execute(insert(ProductDocument), batch)
    return len(catalog), count


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


def summary(values: list[float]) -> dict[str, float]:
    return {
        "n": len(values),
        "p50_ms": round(percentile(values, 50), 2),
        "p90_ms": round(percentile(values, 90), 2),
        "p99_ms": round(percentile(values, 99), 2),
        "max_ms": round(max(values), 2),
        "mean_ms": round(statistics.fmean(values), 2),
    }


def measure(db: Any, rounds: int) -> dict[str, Any]:
    from sincro.catalog.search import SearchEngine

    mix = [(group, q) for group, queries in QUERIES.items() for q in queries]
    report: dict[str, Any] = {}
    uncached = SearchEngine(db, use_cache=False)
    for _, q in mix:  # warm: vocabulary, pages, statement caches
        uncached.search(q)
    timings: dict[str, list[float]] = {group: [] for group in QUERIES}
    examples: dict[str, Any] = {}
    rng = random.Random(11)
    for _ in range(rounds):
        order = mix[:]
        rng.shuffle(order)
        for group, q in order:
            started = time.perf_counter()
            found = uncached.search(q)
            timings[group].append((time.perf_counter() - started) * 1000)
            examples[q] = [h.title for h in found.hits[:1]]
    everything = [t for values in timings.values() for t in values]
    report["uncached"] = {"all": summary(everything)} | {g: summary(v) for g, v in timings.items()}
    cached = SearchEngine(db)
    for _, q in mix:
        cached.search(q)
    hot: list[float] = []
    for _ in range(rounds):
        for _, q in mix:
            started = time.perf_counter()
            cached.search(q)
            hot.append((time.perf_counter() - started) * 1000)
    report["cached"] = summary(hot)
    report["top_hit"] = examples
    return report


@contextmanager
def scratch(kind: str) -> Iterator[str]:
    if kind == "sqlite":
        with tempfile.TemporaryDirectory(prefix="sincro-bench-search-") as folder:
            yield f"sqlite:///{Path(folder) / 'sincro.sqlite'}"
        return
    import psycopg

    name = f"sincro_bench_search_{secrets.token_hex(4)}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        from sincro.db import reset_databases

        reset_databases()
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def run(kind: str, count: int, rounds: int) -> dict[str, Any]:
    from sincro.catalog.search import reindex_all
    from sincro.db import Database
    from sincro.migrate import upgrade

    with scratch(kind) as url:
        upgrade(url)
        db = Database(url)
        try:
            started = time.perf_counter()
            products, docs = load(db, count)
            loaded = time.perf_counter() - started
            print(
                f"[{kind}] loaded {docs} documents, {products} products in {loaded:.1f}s",
                file=sys.stderr,
            )
            stats = reindex_all(db)
            print(f"[{kind}] indexed in {stats.seconds:.1f}s", file=sys.stderr)
            if kind == "postgresql":
                with db.write() as session:
                    session.connection().exec_driver_sql("ANALYZE")
            result = {
                "database": kind,
                "documents": docs,
                "products": products,
                "load_seconds": round(loaded, 1),
                "index_seconds": stats.seconds,
            }
            load_before = os.getloadavg()[0]
            result |= measure(db, rounds)
            result["loadavg_1m"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
            result["cpus"] = os.cpu_count()
            return result
        finally:
            db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--documents", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--db", default="sqlite,postgresql")
    args = parser.parse_args()
    results = [run(kind, args.documents, args.rounds) for kind in args.db.split(",")]
    print(json.dumps(results, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
