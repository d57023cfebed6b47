"""Documents and products for the search tests."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.orm import Session

from sincro.catalog import search
from sincro.catalog.models import ProductDocument
from tests.factories import make_product

FILLER = [
    ("Capa protetora de silicone", "Capa com toque macio e bordas elevadas para proteger a tela."),
    ("Película de vidro temperado", "Película 9H com proteção contra riscos e impactos leves."),
    ("Fone de ouvido Bluetooth", "Fones sem fio com cancelamento de ruído e estojo."),
    ("Smartwatch esportivo", "Relógio com monitor cardíaco, GPS e resistência à água."),
    ("Tablet 10 polegadas", "Tela grande para vídeos, leitura e videochamadas em família."),
    ("Caixa de som portátil", "Som potente com graves profundos e até 12 horas de uso."),
]


def make_document(session: Session, **overrides: Any) -> ProductDocument:
    values: dict[str, Any] = {
        "source": "pim",
        "external_id": f"DOC-{overrides.get('title', 'x')[:20]}",
        "version": 1,
        "kind": "datasheet",
        "title": "Documento",
        "body": "Texto.",
        "language": "pt-BR",
        "effective_date": dt.date(2026, 3, 1),
        "superseded": False,
    }
    values.update(overrides)
    doc = ProductDocument(**values)
    session.add(doc)
    session.flush()
    return doc


def seed_catalog(session: Session, prefix: str = "") -> dict[str, int]:
    """A few products and documents (and unrelated filler, so that the words searched for
    are not in most documents), indexed. ``prefix`` goes before every SKU and document id."""
    ids: dict[str, int] = {}
    galaxy = make_product(
        session,
        sku=f"{prefix}CEL-A15",
        name="Smartphone Samsung Galaxy A15 128GB",
        category="celulares",
    )
    charger = make_product(
        session, sku=f"{prefix}CAR-25W", name="Carregador turbo 25W USB-C", category="carregadores"
    )
    router = make_product(
        session, sku=f"{prefix}ROT-AX3000", name="Roteador Wi-Fi 6 AX3000", category="roteadores"
    )
    ids["galaxy"], ids["charger"], ids["router"] = galaxy.id, charger.id, router.id
    docs = {
        "router_manual": make_document(
            session,
            external_id=f"{prefix}MAN-ROT",
            kind="manual",
            sku=f"{prefix}ROT-AX3000",
            product_id=router.id,
            title="Manual do roteador Wi-Fi 6 AX3000",
            body=(
                "Configuração inicial: conecte o cabo da fibra óptica à porta WAN.\n"
                "Depois, abra o aplicativo e siga as instruções de instalação."
            ),
        ),
        "charger_sheet": make_document(
            session,
            external_id=f"{prefix}FT-CAR",
            sku=f"{prefix}CAR-25W",
            product_id=charger.id,
            title="Ficha técnica do carregador turbo 25W",
            body="Carregador turbo com potência de 25W e proteção contra sobretensão. Bivolt.",
        ),
        "galaxy_leaflet": make_document(
            session,
            external_id=f"{prefix}FOL-A15",
            kind="leaflet",
            sku=f"{prefix}CEL-A15",
            product_id=galaxy.id,
            title="Folheto Galaxy A15",
            body=(
                "Bateria de 5.000 mAh. Acompanha cabo USB-C; o carregador é vendido "
                "separadamente. Use sempre carregadores certificados."
            ),
        ),
        "sim_old": make_document(
            session,
            external_id=f"{prefix}FT-CHIP",
            version=1,
            superseded=True,
            title="Chip 5G pré-pago",
            body="Para ativar o chip, ligue para *144. Ativação em até 24 horas.",
        ),
        "sim_new": make_document(
            session,
            external_id=f"{prefix}FT-CHIP",
            version=2,
            title="Chip 5G pré-pago",
            body="Para ativar o chip, ligue para *144. Ativação em até 24 horas.",
        ),
    }
    for n, (title, body) in enumerate(FILLER * 2):
        make_document(session, external_id=f"{prefix}FILL-{n}", title=title, body=body)
    ids |= {name: doc.id for name, doc in docs.items()}
    all_docs = session.query(ProductDocument.id).all()
    search.index_documents(session, [row.id for row in all_docs])  # the filler too
    search.index_products(session, [galaxy.id, charger.id, router.id])
    return ids
