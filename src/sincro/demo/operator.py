"""Demo operator: stores spread over Brazil by population, regional DCs, and opening stock.

Everything is deterministic for a seed. :func:`stock_quantities` is a pure function of
(product, location, seed) so that the loader can compute 1.8 million stock levels in a couple
of seconds without keeping any state.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from sincro.catalog.models import LocationKind
from sincro.catalog.schemas import LocationIn
from sincro.demo import catalog
from sincro.demo.cities import CITIES, City


@dataclass(frozen=True, slots=True)
class _Hub:
    name: str
    city: str
    state: str
    latitude: float
    longitude: float


# Regional distribution centres, in the order they are opened (CD01, CD02, ...).
DC_HUBS: tuple[_Hub, ...] = (
    _Hub("CD Cajamar", "Cajamar", "SP", -23.356, -46.877),
    _Hub("CD Extrema", "Extrema", "MG", -22.855, -46.318),
    _Hub("CD Duque de Caxias", "Duque de Caxias", "RJ", -22.735, -43.285),
    _Hub("CD Curitiba CIC", "Curitiba", "PR", -25.500, -49.345),
    _Hub("CD Canoas", "Canoas", "RS", -29.900, -51.170),
    _Hub("CD Cabo de Santo Agostinho", "Cabo de Santo Agostinho", "PE", -8.287, -35.035),
    _Hub("CD Simões Filho", "Simões Filho", "BA", -12.784, -38.404),
    _Hub("CD Anápolis DAIA", "Anápolis", "GO", -16.390, -48.930),
    _Hub("CD Manaus Distrito Industrial", "Manaus", "AM", -3.130, -59.950),
    _Hub("CD Ananindeua", "Ananindeua", "PA", -1.380, -48.400),
    _Hub("CD Maracanaú", "Maracanaú", "CE", -3.877, -38.626),
    _Hub("CD Brasília SIA", "Brasília", "DF", -15.800, -47.950),
    _Hub("CD Serra", "Serra", "ES", -20.190, -40.260),
    _Hub("CD Itajaí", "Itajaí", "SC", -26.930, -48.700),
    _Hub("CD Cuiabá", "Cuiabá", "MT", -15.630, -56.060),
)

# Where a store is; city-specific neighbourhoods come first for the big capitals.
_PLACES: tuple[str, ...] = (
    "Shopping Centro", "Centro", "Calçadão", "Shopping Norte", "Shopping Sul", "Rodoviária",
    "Shopping Leste", "Shopping Oeste", "Avenida Brasil", "Terminal Central", "Praça da Matriz",
    "Mercado Municipal", "Hipermercado Norte", "Hipermercado Sul", "Galeria Central",
    "Shopping Boulevard", "Shopping Plaza", "Shopping Park", "Aeroporto", "Universidade",
    "Estação", "Jardim América", "Vila Nova", "Boa Vista", "Santa Cruz", "São José",
    "Parque Industrial", "Outlet", "Avenida Principal", "Bairro Novo",
)  # fmt: skip

_NEIGHBOURHOODS: dict[str, tuple[str, ...]] = {
    "São Paulo": (
        "Paulista", "Pinheiros", "Moema", "Tatuapé", "Santana", "Lapa", "Itaquera",
        "Santo Amaro", "Vila Mariana", "Mooca", "Butantã", "Penha", "São Miguel Paulista",
        "Ipiranga", "Brás", "República", "Jabaquara", "Capão Redondo", "Freguesia do Ó",
        "Vila Prudente", "Perdizes", "Itaim Bibi", "Campo Limpo", "Guaianases",
    ),
    "Rio de Janeiro": (
        "Copacabana", "Tijuca", "Barra da Tijuca", "Madureira", "Campo Grande", "Méier",
        "Botafogo", "Ipanema", "Bangu", "Centro - Uruguaiana", "Jacarepaguá", "Ilha do Governador",
        "Recreio", "Penha", "Santa Cruz", "Leblon",
    ),
    "Brasília": (
        "Asa Sul", "Asa Norte", "Taguatinga", "Ceilândia", "Águas Claras", "Gama", "Sobradinho",
        "Samambaia", "Guará", "Planaltina",
    ),
    "Belo Horizonte": (
        "Savassi", "Pampulha", "Barreiro", "Venda Nova", "Funcionários", "Buritis", "Floresta",
    ),
    "Salvador": ("Barra", "Pituba", "Itapuã", "Liberdade", "Cajazeiras", "Rio Vermelho"),
    "Fortaleza": ("Aldeota", "Messejana", "Parangaba", "Meireles", "Montese"),
    "Recife": ("Boa Viagem", "Casa Amarela", "Madalena", "Afogados", "Derby"),
    "Curitiba": ("Batel", "Portão", "Água Verde", "Boqueirão", "Santa Felicidade"),
    "Porto Alegre": ("Moinhos de Vento", "Azenha", "Zona Norte", "Cidade Baixa", "Restinga"),
    "Manaus": ("Adrianópolis", "Cidade Nova", "Ponta Negra", "Compensa"),
}  # fmt: skip

STORE_SHIPS_ONLINE_SHARE = 0.25
STORE_PICKUP_SHARE = 0.80


def _stores_per_city(stores: int, cities: tuple[City, ...]) -> list[int]:
    """How many stores each city gets: at least one each, the rest by population."""
    counts = [0] * len(cities)
    if stores < len(cities):
        # Too few stores for every city: the largest city of each state first, then by size.
        by_size = sorted(range(len(cities)), key=lambda i: -cities[i].population_k)
        largest: dict[str, int] = {}
        for i in by_size:
            largest.setdefault(cities[i].state, i)
        first = list(largest.values())
        order = first + [i for i in by_size if i not in set(first)]
        for i in order[:stores]:
            counts[i] = 1
        return counts
    extra = stores - len(cities)
    total = sum(c.population_k for c in cities)
    shares = [extra * c.population_k / total for c in cities]
    counts = [1 + int(s) for s in shares]
    leftover = stores - sum(counts)
    by_remainder = sorted(range(len(cities)), key=lambda i: int(shares[i]) - shares[i])
    for i in by_remainder[:leftover]:
        counts[i] += 1
    return counts


def _jitter(rng: random.Random, city: City) -> tuple[float, float]:
    """A point uniformly within a few km of the centre (wider for bigger cities)."""
    radius_km = 1.5 + 4.0 * math.sqrt(city.population_k / 1000)
    distance = radius_km * math.sqrt(rng.random())
    bearing = rng.uniform(0, 2 * math.pi)
    dlat = distance * math.cos(bearing) / 111.2
    dlon = distance * math.sin(bearing) / (111.2 * math.cos(math.radians(city.latitude)))
    return round(city.latitude + dlat, 6), round(city.longitude + dlon, 6)


def _store_names(rng: random.Random, city: City, count: int) -> list[str]:
    local = list(_NEIGHBOURHOODS.get(city.name, ()))
    rng.shuffle(local)
    others = list(_PLACES[2:])
    rng.shuffle(others)
    # "Shopping Centro" and "Centro" are always a city's first stores
    places = list(dict.fromkeys([*_PLACES[:2], *local, *others]))
    names = []
    for n in range(count):
        place = places[n % len(places)]
        round_ = n // len(places)
        suffix = f" {round_ + 1}" if round_ else ""
        names.append(f"Loja {place}{suffix} - {city.name}")
    return names


def generate_locations(stores: int = 1800, dcs: int = 10, seed: int = 7) -> list[LocationIn]:
    """``stores`` stores (codes LJ0001...) followed by ``dcs`` distribution centres (CD01...)."""
    if stores < 0 or dcs < 0:
        raise ValueError("stores and dcs must not be negative")
    if dcs > len(DC_HUBS):
        raise ValueError(f"the demo operator has at most {len(DC_HUBS)} DCs")
    rng = random.Random(f"sincro-demo-locations-{seed}")
    locations: list[LocationIn] = []
    for city, count in zip(CITIES, _stores_per_city(stores, CITIES), strict=True):
        for name in _store_names(rng, city, count):
            latitude, longitude = _jitter(rng, city)
            locations.append(
                LocationIn(
                    code=f"LJ{len(locations) + 1:04d}",
                    kind=LocationKind.store,
                    name=name,
                    city=city.name,
                    state=city.state,
                    latitude=latitude,
                    longitude=longitude,
                    ships_online=rng.random() < STORE_SHIPS_ONLINE_SHARE,
                    pickup_enabled=rng.random() < STORE_PICKUP_SHARE,
                )
            )
    for number, hub in enumerate(DC_HUBS[:dcs], start=1):
        locations.append(
            LocationIn(
                code=f"CD{number:02d}",
                kind=LocationKind.dc,
                name=hub.name,
                city=hub.city,
                state=hub.state,
                latitude=hub.latitude,
                longitude=hub.longitude,
                ships_online=True,
                pickup_enabled=False,
            )
        )
    return locations


@dataclass(frozen=True, slots=True)
class StockProfile:
    """How a category is stocked. Stores carry ``store_carry`` of the products of the category
    with 0..``store_max`` units; DCs hold ``dc_min``..``dc_max`` units of everything."""

    store_carry: float
    store_min: int
    store_max: int
    store_safety: int
    dc_min: int
    dc_max: int
    dc_safety: int


STOCK_PROFILES: dict[str, StockProfile] = {
    catalog.SMARTPHONES: StockProfile(0.45, 0, 8, 1, 80, 1200, 40),
    catalog.CHIPS: StockProfile(1.00, 5, 30, 5, 2000, 9000, 500),
    catalog.CHARGERS: StockProfile(0.70, 0, 20, 2, 300, 3000, 100),
    catalog.CABLES: StockProfile(0.70, 0, 25, 2, 300, 4000, 100),
    catalog.CASES: StockProfile(0.68, 0, 15, 1, 200, 2500, 80),
    catalog.SCREEN_PROTECTORS: StockProfile(0.68, 0, 25, 2, 300, 4000, 100),
    catalog.HEADPHONES: StockProfile(0.60, 0, 12, 1, 150, 2000, 60),
    catalog.ROUTERS: StockProfile(0.35, 0, 5, 0, 50, 600, 20),
    catalog.SMARTWATCHES: StockProfile(0.35, 0, 5, 0, 50, 800, 20),
    catalog.POWER_BANKS: StockProfile(0.60, 0, 12, 1, 200, 2500, 80),
}
_DEFAULT_PROFILE = StockProfile(0.60, 0, 10, 1, 100, 1500, 50)

# Per category: (carry threshold out of 1024, store_min, store range, store safety,
# dc_min, dc range, dc safety) so that the hot path does no attribute look-ups.
_Compiled = tuple[int, int, int, int, int, int, int]


def _compile(p: StockProfile) -> _Compiled:
    return (
        round(p.store_carry * 1024),
        p.store_min,
        p.store_max - p.store_min + 1,
        p.store_safety,
        p.dc_min,
        p.dc_max - p.dc_min + 1,
        p.dc_safety,
    )


_COMPILED: dict[str, _Compiled] = {c: _compile(p) for c, p in STOCK_PROFILES.items()}
_COMPILED_DEFAULT = _compile(_DEFAULT_PROFILE)


def stock_quantities(
    product_index: int, location_index: int, kind: str, category: str, seed: int = 7
) -> tuple[int, int]:
    """(on_hand, safety_stock) for one product at one location; deterministic and cheap.

    DCs hold hundreds to thousands of units of every product. A store carries about 60% of the
    catalog (SIM cards everywhere, phones in fewer stores) with a few units each, and has
    nothing (and no safety stock) for the rest.
    """
    # 32-bit integer hash of (product, location, seed): a multiply-xorshift mixer.
    x = (product_index * 0x9E3779B1 + location_index * 0x85EBCA77 + seed * 0xC2B2AE3D) & 0xFFFFFFFF
    x = ((x ^ (x >> 15)) * 0x2C1B3C6D) & 0xFFFFFFFF
    x = ((x ^ (x >> 12)) * 0x297A2D39) & 0xFFFFFFFF
    x ^= x >> 15
    carry, s_min, s_range, s_safety, d_min, d_range, d_safety = _COMPILED.get(
        category, _COMPILED_DEFAULT
    )
    if kind == "dc":
        return d_min + (x >> 10) % d_range, d_safety
    if (x & 1023) >= carry:
        return 0, 0
    return s_min + (x >> 10) % s_range, s_safety
