"""Demo catalog: the assortment of a Brazilian telecom retailer, with names in pt-BR.

:func:`generate_products` draws a deterministic, realistic mix of smartphones, SIM cards and
accessories. Each category has a SKU prefix (``CEL-000123``) and every product gets a valid
EAN-13 with the Brazilian GS1 prefix 789.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass

SMARTPHONES = "smartphones"
CHIPS = "chips"
CHARGERS = "carregadores"
CABLES = "cabos"
CASES = "capas"
SCREEN_PROTECTORS = "peliculas"
HEADPHONES = "fones"
ROUTERS = "roteadores"
SMARTWATCHES = "smartwatches"
POWER_BANKS = "powerbanks"


@dataclass(frozen=True, slots=True)
class DemoProduct:
    sku: str
    ean: str
    name: str
    category: str
    unit: str = "UN"


@dataclass(frozen=True, slots=True)
class CategorySpec:
    category: str
    sku_prefix: str
    weight: float  # share of the catalog


CATEGORIES: tuple[CategorySpec, ...] = (
    CategorySpec(SMARTPHONES, "CEL", 0.28),
    CategorySpec(CHIPS, "CHP", 0.02),
    CategorySpec(CHARGERS, "CAR", 0.07),
    CategorySpec(CABLES, "CAB", 0.08),
    CategorySpec(CASES, "CAP", 0.22),
    CategorySpec(SCREEN_PROTECTORS, "PEL", 0.13),
    CategorySpec(HEADPHONES, "FON", 0.08),
    CategorySpec(ROUTERS, "ROT", 0.02),
    CategorySpec(SMARTWATCHES, "SWT", 0.05),
    CategorySpec(POWER_BANKS, "PWB", 0.05),
)

# brand, model, storage options, colours
_PHONES: tuple[tuple[str, str, tuple[str, ...], tuple[str, ...]], ...] = (
    ("Samsung", "Galaxy A05", ("64GB", "128GB"), ("Preto", "Prata", "Verde")),
    ("Samsung", "Galaxy A06", ("64GB", "128GB"), ("Preto", "Azul Claro", "Dourado")),
    ("Samsung", "Galaxy A15", ("128GB", "256GB"), ("Azul", "Azul Claro", "Preto", "Amarelo")),
    ("Samsung", "Galaxy A16 5G", ("128GB", "256GB"), ("Preto", "Cinza", "Verde")),
    ("Samsung", "Galaxy A25 5G", ("128GB", "256GB"), ("Azul", "Azul Escuro", "Amarelo")),
    ("Samsung", "Galaxy A35 5G", ("128GB", "256GB"), ("Azul Escuro", "Lilás", "Azul Claro")),
    ("Samsung", "Galaxy A55 5G", ("128GB", "256GB"), ("Azul Escuro", "Lilás", "Azul Claro")),
    ("Samsung", "Galaxy M15 5G", ("128GB",), ("Azul Escuro", "Cinza", "Azul Claro")),
    ("Samsung", "Galaxy S23 FE", ("128GB", "256GB"), ("Grafite", "Creme", "Menta", "Roxo")),
    ("Samsung", "Galaxy S24", ("128GB", "256GB"), ("Preto", "Cinza", "Violeta", "Amarelo")),
    ("Samsung", "Galaxy S24+", ("256GB", "512GB"), ("Preto", "Cinza", "Violeta")),
    (
        "Samsung",
        "Galaxy S24 Ultra",
        ("256GB", "512GB", "1TB"),
        ("Titânio Preto", "Titânio Cinza", "Titânio Violeta"),
    ),
    ("Samsung", "Galaxy S24 FE", ("128GB", "256GB"), ("Azul", "Grafite", "Menta")),
    ("Samsung", "Galaxy Z Flip6", ("256GB", "512GB"), ("Azul", "Menta", "Prata", "Amarelo")),
    ("Samsung", "Galaxy Z Fold6", ("256GB", "512GB"), ("Azul", "Rosa", "Prata")),
    ("Motorola", "Moto G04", ("64GB", "128GB"), ("Grafite", "Azul", "Verde")),
    ("Motorola", "Moto G24", ("128GB", "256GB"), ("Grafite", "Verde", "Rosa")),
    ("Motorola", "Moto G34 5G", ("128GB", "256GB"), ("Preto", "Verde", "Azul")),
    ("Motorola", "Moto G54 5G", ("256GB",), ("Azul", "Verde", "Grafite")),
    ("Motorola", "Moto G84 5G", ("256GB",), ("Grafite", "Magenta", "Azul")),
    ("Motorola", "Moto G85 5G", ("256GB",), ("Grafite", "Azul", "Verde")),
    ("Motorola", "Moto E14", ("64GB",), ("Grafite", "Verde", "Lilás")),
    ("Motorola", "Edge 50 Fusion", ("256GB",), ("Azul", "Rosa", "Verde")),
    ("Motorola", "Edge 50 Pro", ("256GB", "512GB"), ("Preto", "Lilás")),
    ("Motorola", "Edge 50 Ultra", ("512GB",), ("Madeira", "Verde")),
    ("Motorola", "Razr 50", ("256GB",), ("Cinza", "Bege", "Rosa")),
    ("Apple", "iPhone 13", ("128GB", "256GB"), ("Meia-noite", "Estelar", "Azul", "Rosa")),
    ("Apple", "iPhone 14", ("128GB", "256GB"), ("Meia-noite", "Estelar", "Roxo", "Azul")),
    (
        "Apple",
        "iPhone 15",
        ("128GB", "256GB", "512GB"),
        ("Preto", "Azul", "Verde", "Rosa", "Amarelo"),
    ),
    ("Apple", "iPhone 15 Plus", ("128GB", "256GB"), ("Preto", "Azul", "Rosa")),
    (
        "Apple",
        "iPhone 15 Pro",
        ("128GB", "256GB", "512GB"),
        ("Titânio Natural", "Titânio Azul", "Titânio Preto"),
    ),
    (
        "Apple",
        "iPhone 16",
        ("128GB", "256GB", "512GB"),
        ("Preto", "Branco", "Rosa", "Verde-acinzentado", "Ultramarino"),
    ),
    ("Apple", "iPhone 16 Plus", ("128GB", "256GB"), ("Preto", "Branco", "Ultramarino")),
    (
        "Apple",
        "iPhone 16 Pro",
        ("128GB", "256GB", "512GB", "1TB"),
        ("Titânio Natural", "Titânio Deserto", "Titânio Preto", "Titânio Branco"),
    ),
    (
        "Apple",
        "iPhone 16 Pro Max",
        ("256GB", "512GB", "1TB"),
        ("Titânio Natural", "Titânio Deserto", "Titânio Preto"),
    ),
    ("Xiaomi", "Redmi 13C", ("128GB", "256GB"), ("Preto", "Azul", "Verde")),
    ("Xiaomi", "Redmi 13", ("128GB", "256GB"), ("Preto", "Azul", "Rosa")),
    ("Xiaomi", "Redmi A3", ("64GB", "128GB"), ("Preto", "Azul", "Verde")),
    ("Xiaomi", "Redmi Note 13", ("128GB", "256GB"), ("Preto", "Azul", "Verde")),
    ("Xiaomi", "Redmi Note 13 Pro 5G", ("256GB", "512GB"), ("Preto", "Roxo", "Branco")),
    ("Xiaomi", "Poco X6 Pro 5G", ("256GB", "512GB"), ("Preto", "Cinza", "Amarelo")),
    ("Xiaomi", "Poco M6 Pro", ("256GB", "512GB"), ("Preto", "Azul", "Roxo")),
    ("Xiaomi", "14T", ("256GB", "512GB"), ("Preto", "Cinza", "Azul")),
    ("realme", "C53", ("128GB", "256GB"), ("Preto", "Dourado")),
    ("realme", "C55", ("128GB", "256GB"), ("Preto", "Dourado")),
    ("realme", "C61", ("128GB", "256GB"), ("Verde", "Dourado")),
    ("realme", "C67", ("128GB", "256GB"), ("Preto", "Verde")),
    ("realme", "Note 50", ("64GB", "128GB"), ("Preto", "Azul")),
    ("realme", "12 Pro+ 5G", ("256GB", "512GB"), ("Azul", "Bege")),
)

_CASE_STYLES: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "Capa de Silicone",
        ("Preta", "Azul", "Rosa", "Verde", "Lilás", "Vermelha", "Branca", "Amarela"),
    ),
    ("Capa Transparente Anti-impacto", ("",)),
    ("Capa Transparente com Glitter", ("",)),
    ("Capa Carteira", ("Preta", "Marrom", "Vinho")),
    ("Capa Flip Couro Sintético", ("Preta", "Azul Marinho")),
    ("Capa Anti-impacto Militar", ("Preta", "Azul Marinho", "Verde Militar")),
    ("Capa MagSafe Transparente", ("",)),
    ("Capa Emborrachada com Cordão", ("Preta", "Rosa", "Verde-água", "Lilás")),
)

_PROTECTOR_STYLES: tuple[str, ...] = (
    "Película de Vidro 3D",
    "Película de Vidro Temperado",
    "Película Hidrogel",
    "Película Hidrogel Fosca",
    "Película de Privacidade",
    "Película Cerâmica Flexível",
    "Película para Câmera",
    "Película de Vidro 9D Bordas Pretas",
    "Película Anti-espião 3D",
)

_ACCESSORY_BRANDS: tuple[str, ...] = ("i2GO", "Geonav", "ELG", "Baseus", "Multi", "Pulse")

_CHARGERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Carregador de Parede USB-C 20W", ("Apple", "Samsung", "i2GO", "Geonav", "Baseus")),
    ("Carregador de Parede USB-C 25W Super Rápido", ("Samsung", "i2GO", "Geonav")),
    ("Carregador de Parede USB-C 45W Super Rápido 2.0", ("Samsung", "Baseus")),
    ("Carregador Turbo USB-C 30W TurboPower", ("Motorola",)),
    ("Carregador Turbo USB-C 68W TurboPower", ("Motorola",)),
    ("Carregador Turbo USB-C 33W", ("Xiaomi", "realme")),
    ("Carregador Turbo USB-C 67W", ("Xiaomi",)),
    ("Carregador de Parede 2 USB 12W", ("i2GO", "ELG", "Multi", "Pulse")),
    ("Carregador de Parede USB-A + USB-C 35W", ("Geonav", "Baseus", "ELG")),
    ("Carregador Veicular USB-A + USB-C 38W", ("i2GO", "Geonav", "Baseus", "Multi")),
    ("Carregador Veicular 2 USB 15W", ("ELG", "Multi", "Pulse")),
    ("Carregador Sem Fio 15W", ("Samsung", "Xiaomi", "Geonav", "Baseus", "i2GO")),
    ("Carregador Sem Fio MagSafe 15W", ("Apple", "Baseus")),
)

_CABLES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Cabo USB-C para USB-C", ("1m", "2m")),
    ("Cabo USB-A para USB-C", ("1m", "1,5m", "2m")),
    ("Cabo USB-C para Lightning", ("1m", "2m")),
    ("Cabo USB-A para Lightning", ("1m", "2m")),
    ("Cabo USB-A para Micro USB", ("1m", "1,2m")),
    ("Cabo Trançado USB-C para USB-C 60W", ("1m", "2m")),
    ("Cabo 3 em 1 USB-C, Lightning e Micro USB", ("1,2m",)),
)

_HEADPHONES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Fone de Ouvido Bluetooth Samsung Galaxy Buds FE", ("Grafite", "Branco")),
    ("Fone de Ouvido Bluetooth Samsung Galaxy Buds3", ("Prata", "Branco")),
    ("Fone de Ouvido Bluetooth Samsung Galaxy Buds3 Pro", ("Prata", "Branco")),
    ("Fone de Ouvido Bluetooth Apple AirPods 4", ("Branco",)),
    ("Fone de Ouvido Bluetooth Apple AirPods Pro (2ª geração)", ("Branco",)),
    ("Fone de Ouvido Bluetooth Motorola Moto Buds", ("Azul", "Bege", "Cinza")),
    ("Fone de Ouvido Bluetooth Xiaomi Redmi Buds 6 Active", ("Preto", "Branco", "Rosa")),
    ("Fone de Ouvido Bluetooth Xiaomi Redmi Buds 5", ("Preto", "Branco", "Azul")),
    ("Fone de Ouvido Bluetooth JBL Wave Buds", ("Preto", "Branco", "Azul")),
    ("Fone de Ouvido Bluetooth JBL Tune 520BT", ("Preto", "Azul", "Branco", "Roxo")),
    ("Fone de Ouvido Bluetooth JBL Tune Flex", ("Preto", "Branco")),
    ("Fone de Ouvido Bluetooth QCY T13", ("Preto", "Branco")),
    ("Fone de Ouvido com Fio P2 i2GO", ("Preto", "Branco")),
    ("Fone de Ouvido com Fio USB-C Samsung", ("Branco", "Preto")),
    ("Fone de Ouvido com Fio Apple EarPods USB-C", ("Branco",)),
    ("Caixa de Som Bluetooth JBL Go 4", ("Preta", "Azul", "Vermelha", "Rosa")),
    ("Caixa de Som Bluetooth JBL Flip 6", ("Preta", "Azul", "Cinza")),
)

_ROUTERS: tuple[str, ...] = (
    "Modem Roteador 4G Wi-Fi Huawei B311",
    "Modem Roteador 4G Wi-Fi ZTE MF293N",
    "Modem Roteador 5G Wi-Fi 6 ZTE MC888",
    "Modem Roteador 5G Wi-Fi 6 Huawei 5G CPE Pro 2",
    "Roteador Portátil 4G MiFi ZTE MF920",
    "Roteador Portátil 4G MiFi Huawei E5576",
    "Roteador Portátil 5G MiFi ZTE MU5001",
    "Modem USB 4G Huawei E3372",
    "Roteador Wi-Fi 6 TP-Link Archer AX23",
    "Roteador Wi-Fi 5 TP-Link Archer C6",
    "Roteador Wi-Fi 6 Intelbras W6-1500",
    "Roteador Mesh Intelbras Twibi Giga (kit com 2)",
    "Roteador Mesh TP-Link Deco X20 (kit com 2)",
    "Repetidor Wi-Fi TP-Link RE200",
    "Roteador Wi-Fi Mercusys MR30G",
    "Antena Externa 4G/5G para Modem",
)

_WATCHES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Smartwatch Samsung Galaxy Watch7 40mm", ("Verde", "Creme")),
    ("Smartwatch Samsung Galaxy Watch7 44mm", ("Verde", "Prata")),
    ("Smartwatch Samsung Galaxy Watch FE 40mm", ("Preto", "Prata", "Rosa")),
    ("Smartwatch Samsung Galaxy Watch Ultra 47mm", ("Titânio Cinza", "Titânio Branco")),
    ("Smartwatch Apple Watch SE GPS 40mm", ("Meia-noite", "Estelar", "Prata")),
    ("Smartwatch Apple Watch SE GPS 44mm", ("Meia-noite", "Estelar", "Prata")),
    ("Smartwatch Apple Watch Series 10 GPS 42mm", ("Preto Brilhante", "Prateado", "Ouro Rosa")),
    ("Smartwatch Apple Watch Series 10 GPS 46mm", ("Preto Brilhante", "Prateado")),
    ("Smartwatch Xiaomi Redmi Watch 5 Active", ("Preto", "Prata")),
    ("Smartwatch Xiaomi Redmi Watch 4", ("Preto", "Prata")),
    ("Pulseira Inteligente Xiaomi Smart Band 9", ("Preta", "Prata", "Rosa", "Azul")),
    ("Smartwatch Amazfit Bip 5", ("Preto", "Rosa", "Creme")),
    ("Smartwatch Amazfit GTS 4 Mini", ("Preto", "Rosa", "Azul")),
    ("Smartwatch Motorola Moto Watch 100", ("Preto", "Prata")),
)

_POWER_BANKS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("5.000mAh 12W", ("i2GO", "Geonav", "ELG", "Pulse")),
    ("10.000mAh 20W", ("Xiaomi", "Samsung", "i2GO", "Geonav", "Baseus", "Multi")),
    ("10.000mAh MagSafe 20W", ("Baseus", "Geonav")),
    ("20.000mAh 22,5W", ("Xiaomi", "Baseus", "Geonav", "i2GO", "Multi")),
    ("20.000mAh 25W", ("Samsung",)),
    ("30.000mAh 65W", ("Baseus",)),
)

_BASIC_COLOURS: tuple[str, ...] = ("Preto", "Branco")


def _colours_for(brand: str) -> tuple[str, ...]:
    return ("Branco",) if brand == "Apple" else _BASIC_COLOURS


def _smartphones() -> Iterator[str]:
    for brand, model, storages, colours in _PHONES:
        for storage in storages:
            for colour in colours:
                yield f"Smartphone {brand} {model} {storage} {colour}"


def _chips() -> Iterator[str]:
    for plan in ("Pré-pago", "Controle", "Pós-pago", "Internet Móvel", "Empresas"):
        for tech in ("4G", "5G"):
            yield f"Chip {plan} {tech} Triplo Corte"
            yield f"eSIM {plan} {tech}"
    for value in (15, 20, 30, 50):
        yield f"Kit Chip Pré-pago 5G + Recarga R$ {value}"


def _phone_models() -> list[str]:
    return [model if brand == "Apple" else f"{brand} {model}" for brand, model, _, _ in _PHONES]


def _cases() -> Iterator[str]:
    for model in _phone_models():
        for style, colours in _CASE_STYLES:
            if "MagSafe" in style and not model.startswith("iPhone"):
                continue
            for colour in colours:
                yield f"{style} {model} {colour}".rstrip()


def _protectors() -> Iterator[str]:
    for model in _phone_models():
        for style in _PROTECTOR_STYLES:
            yield f"{style} {model}"


def _chargers() -> Iterator[str]:
    for base, brands in _CHARGERS:
        for brand in brands:
            for colour in _colours_for(brand):
                yield f"{base} {brand} {colour}"


def _cables() -> Iterator[str]:
    for base, lengths in _CABLES:
        for length in lengths:
            for brand in (*_ACCESSORY_BRANDS, "Samsung", "Apple"):
                if brand == "Apple" and "para Lightning" not in base:
                    continue
                if brand == "Samsung" and "Lightning" in base:
                    continue
                for colour in _colours_for(brand):
                    yield f"{base} {length} {brand} {colour}"


def _headphones() -> Iterator[str]:
    for base, colours in _HEADPHONES:
        for colour in colours:
            yield f"{base} {colour}"


def _routers() -> Iterator[str]:
    for base in _ROUTERS:
        yield f"{base} Branco" if "Mesh" in base else base


def _watches() -> Iterator[str]:
    for base, colours in _WATCHES:
        for colour in colours:
            yield f"{base} {colour}"


def _power_banks() -> Iterator[str]:
    for spec, brands in _POWER_BANKS:
        for brand in brands:
            for colour in (*_BASIC_COLOURS, "Azul"):
                yield f"Carregador Portátil Power Bank {spec} {brand} {colour}"


_POOLS = {
    SMARTPHONES: _smartphones,
    CHIPS: _chips,
    CHARGERS: _chargers,
    CABLES: _cables,
    CASES: _cases,
    SCREEN_PROTECTORS: _protectors,
    HEADPHONES: _headphones,
    ROUTERS: _routers,
    SMARTWATCHES: _watches,
    POWER_BANKS: _power_banks,
}


def ean13_check_digit(first12: str) -> int:
    """The EAN-13 check digit for the first 12 digits."""
    if len(first12) != 12 or not first12.isdigit():
        raise ValueError(f"need 12 digits, got {first12!r}")
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(first12))
    return (10 - total % 10) % 10


def is_valid_ean13(code: str) -> bool:
    return len(code) == 13 and code.isdigit() and ean13_check_digit(code[:12]) == int(code[12])


def max_products() -> int:
    """How many distinct products the generator can produce."""
    return sum(sum(1 for _ in pool()) for pool in _POOLS.values())


def _quotas(count: int, pools: dict[str, list[str]]) -> dict[str, int]:
    """Split ``count`` over the categories by weight (largest remainder), within pool sizes."""
    quotas = {spec.category: 0 for spec in CATEGORIES}
    remaining = count
    open_specs = list(CATEGORIES)
    while remaining > 0 and open_specs:
        total_weight = sum(s.weight for s in open_specs)
        shares = {s.category: remaining * s.weight / total_weight for s in open_specs}
        give = {c: int(v) for c, v in shares.items()}
        leftover = remaining - sum(give.values())
        by_remainder = sorted(open_specs, key=lambda s: give[s.category] - shares[s.category])
        for spec in by_remainder[:leftover]:
            give[spec.category] += 1
        # at least one product per category when the catalog is big enough for that
        if count >= len(CATEGORIES):
            for spec in open_specs:
                if quotas[spec.category] + give[spec.category] == 0:
                    donor = max(give, key=lambda c: give[c])
                    give[donor] -= 1
                    give[spec.category] += 1
        for category, n in give.items():
            room = len(pools[category]) - quotas[category]
            taken = min(n, room)
            quotas[category] += taken
            remaining -= taken
        open_specs = [s for s in open_specs if quotas[s.category] < len(pools[s.category])]
    return quotas


def generate_products(count: int = 1000, seed: int = 7) -> list[DemoProduct]:
    """``count`` distinct products, deterministic for ``seed``, ordered by category and SKU."""
    if count < 0:
        raise ValueError("count must not be negative")
    pools = {category: list(pool()) for category, pool in _POOLS.items()}
    capacity = sum(len(p) for p in pools.values())
    if count > capacity:
        raise ValueError(f"the demo catalog has at most {capacity} distinct products")
    rng = random.Random(seed)
    quotas = _quotas(count, pools)
    eans = rng.sample(range(1_000_000_000), count)  # 9 digits after the 789 prefix
    products: list[DemoProduct] = []
    for spec in CATEGORIES:
        pool = pools[spec.category]
        # a seeded choice, shown in the pool's natural order (models, storage, colours)
        picked = sorted(rng.sample(range(len(pool)), quotas[spec.category]))
        for number, index in enumerate(picked, start=1):
            first12 = f"789{eans[len(products)]:09d}"
            products.append(
                DemoProduct(
                    sku=f"{spec.sku_prefix}-{number:06d}",
                    ean=f"{first12}{ean13_check_digit(first12)}",
                    name=pool[index],
                    category=spec.category,
                )
            )
    return products
