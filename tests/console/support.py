"""Shared data and helpers for the console tests: a small operator and a console user."""

from __future__ import annotations

import re
from dataclasses import dataclass

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from sincro.access.service import create_user
from tests.factories import make_location, make_product, receive

USER_EMAIL = "gerente@sincro.example"
USER_PASSWORD = "senha-forte-123"
USER_NAME = "Ana Gerente"
CSRF_RE = re.compile(r'name="csrf" value="([^"]+)"')
ADMIN_NAV = [  # the console's sections an admin sees, in order
    "Estoque (SKUs)",
    "Lojas e CDs",
    "Feed ao vivo",
    "Sincronização",
    "Clientes",
    "Busca",
    "Ofertas",
    "Previsão de demanda",
    "Relatórios",
    "Mensagens",
    "Automação",
    "Cobrança",
    "Atendimento",
    "Análise do atendimento",
    "Avise-me",
    "Auditoria",
    "Caixa de saída (demo)",
    "Saúde",
]


@dataclass(frozen=True)
class World:
    active_locations: int
    sku: str
    ean: str


# (code, kind, name, city, state, lat, lon, ships_online, active)
LOCATIONS = [
    (
        "LJ-SP-PAULISTA",
        "store",
        "Loja Av. Paulista",
        "São Paulo",
        "SP",
        -23.5614,
        -46.6559,
        True,
        True,
    ),
    ("LJ-SP-ITAQUERA", "store", "Loja Itaquera", "São Paulo", "SP", -23.5400, -46.4560, True, True),
    ("CD-CAJAMAR", "dc", "CD Cajamar", "Cajamar", "SP", -23.3550, -46.8770, True, True),
    (
        "LJ-CPS-CENTRO",
        "store",
        "Loja Campinas Centro",
        "Campinas",
        "SP",
        -22.9056,
        -47.0608,
        True,
        True,
    ),
    (
        "LJ-RJ-COPA",
        "store",
        "Loja Copacabana",
        "Rio de Janeiro",
        "RJ",
        -22.9711,
        -43.1822,
        True,
        True,
    ),
    (
        "LJ-POA-CENTRO",
        "store",
        "Loja Porto Alegre",
        "Porto Alegre",
        "RS",
        -30.0346,
        -51.2177,
        False,
        True,
    ),
    ("LJ-REC-BOAVIAGEM", "store", "Loja Boa Viagem", "Recife", "PE", -8.1190, -34.9030, True, True),
    ("LJ-MAO-CENTRO", "store", "Loja Manaus", "Manaus", "AM", -3.1190, -60.0217, True, True),
    (
        "LJ-CWB-FECHADA",
        "store",
        "Loja Curitiba (fechada)",
        "Curitiba",
        "PR",
        -25.4284,
        -49.2733,
        True,
        False,
    ),
]

# (sku, location, quantity)
STOCK = [
    ("CEL-A15", "CD-CAJAMAR", 1234),
    ("CEL-A15", "LJ-SP-PAULISTA", 12),
    ("CEL-A15", "LJ-SP-ITAQUERA", 3),
    ("CEL-A15", "LJ-CPS-CENTRO", 7),
    ("CEL-A15", "LJ-RJ-COPA", 2),
    ("CEL-A15", "LJ-POA-CENTRO", 40),
    ("CHIP-5G", "LJ-SP-PAULISTA", 250),
    ("CHIP-5G", "LJ-REC-BOAVIAGEM", 90),
]


def seed_world(session: Session) -> World:
    """Nine locations (one inactive), three products, some stock and one console user."""
    for code, kind, name, city, state, lat, lon, ships, active in LOCATIONS:
        make_location(
            session,
            code=code,
            kind=kind,
            name=name,
            city=city,
            state=state,
            latitude=lat,
            longitude=lon,
            ships_online=ships,
            pickup_enabled=kind == "store",
            active=active,
        )
    make_product(
        session,
        sku="CEL-A15",
        ean="7891234567895",
        name="Smartphone Galaxy A15 128GB",
        category="celulares",
    )
    make_product(session, sku="CHIP-5G", ean="7890000000019", name="Chip 5G pré-pago")
    make_product(session, sku="FONE-BT", name="Fone de ouvido Bluetooth")
    for sku, location, qty in STOCK:
        receive(session, sku, location, qty)
    create_user(session, USER_EMAIL, USER_NAME, USER_PASSWORD)
    return World(
        active_locations=sum(1 for loc in LOCATIONS if loc[-1]),
        sku="CEL-A15",
        ean="7891234567895",
    )


def csrf_of(html: str) -> str:
    match = CSRF_RE.search(html)
    assert match, "no CSRF token in the page"
    return match.group(1)


def sign_in(client: TestClient, email: str = USER_EMAIL, password: str = USER_PASSWORD):
    """Post the sign-in form the way a browser does (token from the form page)."""
    page = client.get("/console/sign-in")
    return client.post(
        "/console/sign-in",
        data={"email": email, "password": password, "csrf": csrf_of(page.text), "next": ""},
        follow_redirects=False,
    )
