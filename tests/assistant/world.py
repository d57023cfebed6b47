"""A small world for the dialogue tests: stores in Niterói, Rio and Campinas, two phones with
stock, a verified-able customer with invoices and an order, a datasheet, plans and a
promotion. Seeded once per module and database (the tests start their own conversations)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy.orm import Session

from sincro.assistant import entities
from sincro.catalog import offers
from sincro.catalog.documents import DocumentIn, apply_documents
from sincro.catalog.schemas import PlanIn, PromotionIn
from sincro.customers.models import Customer, Receivable
from sincro.db import Database
from sincro.inventory import service as inventory
from sincro.inventory.schemas import ReservationLineIn
from tests.factories import make_location, make_product, receive

CPF = "529.982.247-25"
BIRTH = dt.date(1985, 3, 12)
INVOICE = "000000123"
OTHER_CPF = "111.444.777-35"  # valid check digits, nobody's
A05 = "SMG-A05-PRT"
IPHONE = "APL-IP15PM-256"


def seed(db: Database) -> dict[str, int | str]:
    entities.forget_catalog()
    with db.write() as s:
        for code, name, city, state, lat, lon in [
            ("LJ-NIT-SC", "Loja Shopping Centro - Niterói", "Niterói", "RJ", -22.896, -43.124),
            ("LJ-NIT-C", "Loja Centro - Niterói", "Niterói", "RJ", -22.893, -43.120),
            ("LJ-NIT-I", "Loja Icaraí - Niterói", "Niterói", "RJ", -22.905, -43.108),
            ("LJ-RIO-C", "Loja Centro - Rio de Janeiro", "Rio de Janeiro", "RJ", -22.903, -43.176),
            ("LJ-CPS-C", "Loja Centro - Campinas", "Campinas", "SP", -22.905, -47.061),
        ]:
            make_location(
                s, code=code, name=name, city=city, state=state, latitude=lat, longitude=lon
            )
        make_product(s, sku=A05, name="Samsung Galaxy A05 128GB Preto", category="smartphones")
        make_product(
            s,
            sku=IPHONE,
            name="Apple iPhone 15 Pro Max 256GB Titânio Preto",
            category="smartphones",
        )
        customer = _customer(s)
        other = Customer(
            source="erp", external_code="C2", name="Bruno Lima", document="39053344705",
            document_kind="cpf", email="bruno@example.com", birth_date=dt.date(1990, 1, 1),
        )  # fmt: skip
        s.add(other)
        s.flush()
        offers.upsert_plan(
            s, PlanIn(code="CTRL-25GB", name="Controle 25GB", kind="controle",
                      monthly_price=Decimal("49.90"), data_gb=25),
        )  # fmt: skip
        offers.upsert_plan(
            s, PlanIn(code="POS-100GB", name="Pós 100GB", kind="pos",
                      monthly_price=Decimal("129.90"), data_gb=100),
        )  # fmt: skip
        offers.upsert_promotion(
            s,
            PromotionIn(
                code="A05-OFF", name="Galaxy A05 com desconto", sku=A05,
                discount_percent=Decimal("10"), valid_from=dt.date(2020, 1, 1),
            ),
        )  # fmt: skip
        apply_documents(
            s,
            "pim",
            [
                DocumentIn(
                    external_id="DS-A05",
                    title="Ficha técnica Samsung Galaxy A05",
                    body="O Samsung Galaxy A05 tem tela de 6,7 polegadas. A bateria tem "
                    "capacidade de 5000 mAh e carregamento rápido de 25W. Câmera de 50 MP.",
                    sku=A05,
                ),
                DocumentIn(
                    external_id="MN-ROUTER",
                    kind="manual",
                    title="Manual do modem roteador Wi-Fi",
                    body="Para reiniciar o roteador, mantenha o botão reset pressionado por "
                    "10 segundos até a luz piscar. A senha do wifi fica na etiqueta.",
                ),
            ],
        )
        ids = {"customer": customer.id, "other": other.id}
    with db.write() as s:
        receive(s, A05, "LJ-NIT-C", 4)
        receive(s, A05, "LJ-NIT-I", 2)
        receive(s, A05, "LJ-RIO-C", 7)
        receive(s, IPHONE, "LJ-CPS-C", 1)
    with db.write() as s:
        order = inventory.reserve(
            s, "app", [ReservationLineIn(sku=A05, qty=1, location="LJ-RIO-C")], 3600,
            order_reference="PED-2026-000777", customer_id=ids["customer"],
        )  # fmt: skip
    return {**ids, "order": order.id}


def _customer(s: Session) -> Customer:
    customer = Customer(
        source="erp", external_code="C1", name="Ana Souza", document="52998224725",
        document_kind="cpf", email="ana@example.com", city="Niterói", state="RJ",
        birth_date=BIRTH,
    )  # fmt: skip
    s.add(customer)
    s.flush()
    for number, due, status in [(INVOICE, dt.date(2026, 1, 10), "open"),
                                ("000000124", dt.date(2025, 11, 10), "paid")]:  # fmt: skip
        s.add(
            Receivable(
                source="erp", external_code=f"FAT-{number}", number=number,
                customer_id=customer.id, customer_code="C1", issued_on=due - dt.timedelta(20),
                due_date=due, status=status, amount=Decimal("99.90"),
                balance=Decimal("99.90") if status == "open" else Decimal(0),
            )
        )  # fmt: skip
    s.flush()
    return customer
