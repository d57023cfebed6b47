"""The demo operator's customers: two years of sign-ups, their consent, invoices and payments.

Everything is a deterministic function of (count, seed, today), written through the customers
domain's bulk loader (:class:`sincro.customers.service.CustomerBulkLoad`).

- **Sign-ups** spread over the 730 days before ``today``, growing (the last month signs up about
  twice as many as the first), with retail seasonality (Black Friday and Christmas high,
  February low, Mother's Day in May) and quieter Sundays. Customer ids follow sign-up order.
- **Where**: cities weighted by the demo's stores in each (:mod:`sincro.demo.cities`), phones
  with the UF's area code.
- **Who**: valid CPFs (check digits by :func:`sincro.text_pt.cpf_check_digits`) for people, a
  few CNPJs for small businesses, e-mails only at reserved example domains (``.test``,
  ``example.com``, ``exemplo.com.br``) so no real person is ever mailed, birth dates for people.
- **Plans** from the demo plan catalog (:data:`sincro.demo.offers.PLANS`) in its shares.
- **Consent** for e-mail: billing for nearly everyone with an address, marketing for a bit over
  half, an explicit refusal for some; evidence ``demo``.
- **Duplicates**: about 1 in 120 customers also registered at the online store (source
  ``loja-online``) with the same document; that record is merged into the ERP one.
- **Invoices** (receivables) for every customer not on a prepaid plan, one per billing cycle
  (``cycle_months``; 1 = monthly) from the month after sign-up, due 10 days after issue. About
  82% pay on time, 12% late (1–45 days, so some are still open and overdue now), 6% stop paying
  at a point within the last 200 days: they are the defaulters, spread over every aging bucket.
"""

from __future__ import annotations

import bisect
import datetime as dt
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal

from sincro.customers.service import CustomerRow, ReceivableRow
from sincro.demo.cities import CITIES
from sincro.demo.offers import PLANS
from sincro.demo.operator import _stores_per_city
from sincro.text_pt import cnpj_check_digits, cpf_check_digits, plain

SOURCE = "demo"
ONLINE_SOURCE = "loja-online"
HISTORY_DAYS = 730
DUE_AFTER_DAYS = 10
EMAIL_DOMAINS = (
    "exemplo.com.br",
    "example.com",
    "email.test",
    "correio.test",
    "provedor.test",
    "webmail.test",
    "exemplo.net.br",
    "example.org",
)
FIRST_WOMEN = (
    "Maria",
    "Ana",
    "Francisca",
    "Antônia",
    "Adriana",
    "Juliana",
    "Márcia",
    "Fernanda",
    "Patrícia",
    "Aline",
    "Sandra",
    "Camila",
    "Amanda",
    "Bruna",
    "Jéssica",
    "Letícia",
    "Júlia",
    "Luciana",
    "Vanessa",
    "Mariana",
    "Gabriela",
    "Beatriz",
    "Larissa",
    "Rafaela",
    "Helena",
)
FIRST_MEN = (
    "José",
    "João",
    "Antônio",
    "Francisco",
    "Carlos",
    "Paulo",
    "Pedro",
    "Lucas",
    "Luiz",
    "Marcos",
    "Luís",
    "Gabriel",
    "Rafael",
    "Daniel",
    "Marcelo",
    "Bruno",
    "Eduardo",
    "Felipe",
    "Raimundo",
    "Rodrigo",
    "Mateus",
    "Gustavo",
    "Thiago",
    "Heitor",
    "Davi",
)
SURNAMES = (
    "Silva",
    "Santos",
    "Oliveira",
    "Souza",
    "Rodrigues",
    "Ferreira",
    "Alves",
    "Pereira",
    "Lima",
    "Gomes",
    "Costa",
    "Ribeiro",
    "Martins",
    "Carvalho",
    "Almeida",
    "Lopes",
    "Soares",
    "Fernandes",
    "Vieira",
    "Barbosa",
    "Rocha",
    "Dias",
    "Nascimento",
    "Andrade",
    "Moreira",
    "Nunes",
    "Marques",
    "Machado",
    "Mendes",
    "Freitas",
    "Cardoso",
    "Ramos",
    "Gonçalves",
    "Santana",
    "Teixeira",
    "Araújo",
    "Pinto",
    "Correia",
    "Cavalcanti",
    "Monteiro",
)
TRADES = ("Celulares", "Comércio", "Serviços", "Distribuidora", "Informática", "Transportes")
# The main area code of each UF (phones of the demo's customers).
DDD = {
    "AC": 68, "AL": 82, "AM": 92, "AP": 96, "BA": 71, "CE": 85, "DF": 61, "ES": 27, "GO": 62,
    "MA": 98, "MG": 31, "MS": 67, "MT": 65, "PA": 91, "PB": 83, "PE": 81, "PI": 86, "PR": 41,
    "RJ": 21, "RN": 84, "RO": 69, "RR": 95, "RS": 51, "SC": 48, "SE": 79, "SP": 11, "TO": 63,
}  # fmt: skip
# Sign-ups by month (1 = January): retail seasonality of a phone retailer.
SEASON = (0.85, 0.75, 0.9, 0.9, 1.15, 0.95, 1.0, 1.0, 0.95, 1.0, 1.35, 1.45)
SUNDAY = 0.55

COMPANY_SHARE = 0.03
NO_EMAIL_SHARE = 0.06
NO_PHONE_SHARE = 0.03
DUPLICATE_SHARE = 1 / 120
BILLING_CONSENT = 0.97
MARKETING_CONSENT = 0.55
MARKETING_REFUSED = 0.12
ON_TIME, LATE = 0.82, 0.12  # the rest (6%) become defaulters
DEFAULT_WITHIN_DAYS = 200
EXTRAS = Decimal("9.90")  # a service add-on some invoices carry


@dataclass(slots=True)
class _Billed:
    """What the invoice pass needs of a customer (compact, ~140k of them)."""

    id: int
    code: str
    price: Decimal
    since: int  # ordinal
    billing_day: int
    behaviour: int  # 0 on time, 1 late, 2 defaulter
    stop: int  # defaulters: ordinal from which nothing is paid


@dataclass(slots=True)
class DemoCustomers:
    """The generated customers (rows to write) and what the later passes need."""

    rows: list[CustomerRow]
    primaries: int
    billing_consent: list[int] = field(default_factory=list)
    marketing_consent: list[int] = field(default_factory=list)
    marketing_refused: list[int] = field(default_factory=list)
    billed: list[_Billed] = field(default_factory=list)


def signup_days(count: int, today: dt.date) -> list[int]:
    """The sign-up day (ordinal) of each of ``count`` customers, ascending: growth, seasonality
    and quieter Sundays over the 730 days before ``today`` (largest remainders, so exact)."""
    first = today.toordinal() - HISTORY_DAYS
    weights = []
    for offset in range(HISTORY_DAYS):
        day = dt.date.fromordinal(first + offset)
        weight = (1 + offset / HISTORY_DAYS) * SEASON[day.month - 1]
        weights.append(weight * (SUNDAY if day.weekday() == 6 else 1.0))
    total = sum(weights)
    exact = [count * w / total for w in weights]
    counts = [int(x) for x in exact]
    short = count - sum(counts)
    by_remainder = sorted(range(HISTORY_DAYS), key=lambda i: counts[i] - exact[i])
    for i in by_remainder[:short]:
        counts[i] += 1
    return [first + offset for offset, n in enumerate(counts) for _ in range(n)]


def _cumulative(weights: list[float]) -> list[float]:
    total, acc, out = sum(weights), 0.0, []
    for weight in weights:
        acc += weight
        out.append(acc / total)
    return out


def generate_customers(count: int, seed: int, today: dt.date) -> DemoCustomers:
    """``count`` customers (ids 1..count, in sign-up order) plus their online duplicates."""
    rng = random.Random(f"sincro-demo-customers-{seed}")
    random_ = rng.random
    days = signup_days(count, today)
    city_cdf = _cumulative([float(n) for n in _stores_per_city(1800, CITIES)])
    plan_cdf = _cumulative([p.share for p in PLANS])
    women = [(n, plain(n).replace(" ", "")) for n in FIRST_WOMEN]
    men = [(n, plain(n).replace(" ", "")) for n in FIRST_MEN]
    surnames = [(n, plain(n).replace(" ", "")) for n in SURNAMES]
    fromordinal = dt.date.fromordinal
    dates: dict[int, dt.date] = {}
    today_ordinal = today.toordinal()
    out = DemoCustomers(rows=[], primaries=count)
    rows = out.rows
    duplicates: list[CustomerRow] = []
    for index in range(count):
        customer_id = index + 1
        code = f"{customer_id:06d}-01"
        city = CITIES[min(bisect.bisect(city_cdf, random_()), len(CITIES) - 1)]
        plan = PLANS[min(bisect.bisect(plan_cdf, random_()), len(PLANS) - 1)]
        since = days[index]
        since_date = dates.get(since) or dates.setdefault(since, fromordinal(since))
        last, last_folded = surnames[int(random_() * len(surnames))]
        if random_() < COMPANY_SHARE:
            trade = TRADES[int(random_() * len(TRADES))]
            name = f"{last} {trade} Ltda"
            base = f"{(customer_id * 31_337 + seed * 7) % 10**8:08d}0001"
            document, kind, birth = base + cnpj_check_digits(base), "cnpj", None
            local = f"contato.{last_folded}{customer_id}"
        else:
            first, first_folded = (women if random_() < 0.52 else men)[int(random_() * 25)]
            middle = surnames[int(random_() * len(surnames))][0]
            name = f"{first} {middle} {last}"
            base = f"{(customer_id * 7_919 + seed * 104_729) % 10**9:09d}"
            document, kind = base + cpf_check_digits(base), "cpf"
            age_days = int((18 + 62 * random_() ** 1.7) * 365.25)
            birth = fromordinal(today_ordinal - age_days)
            local = f"{first_folded}.{last_folded}{customer_id}"
        email = None
        if random_() >= NO_EMAIL_SHARE:
            email = f"{local}@{EMAIL_DOMAINS[int(random_() * len(EMAIL_DOMAINS))]}"
        phone = None
        if random_() >= NO_PHONE_SHARE:
            phone = f"{DDD[city.state]}9{int(random_() * 10**8):08d}"
        rows.append(
            CustomerRow(
                customer_id,
                SOURCE,
                code,
                name,
                document,
                kind,
                email,
                phone,
                city.name,
                city.state,
                birth,
                plan.code,
                since_date,
                None,
            )
        )
        if email is not None:
            roll = random_()
            if roll < BILLING_CONSENT:
                out.billing_consent.append(customer_id)
            roll = random_()
            if roll < MARKETING_CONSENT:
                out.marketing_consent.append(customer_id)
            elif roll < MARKETING_CONSENT + MARKETING_REFUSED:
                out.marketing_refused.append(customer_id)
        if random_() < DUPLICATE_SHARE:  # also signed up at the online store, later
            later = min(today_ordinal, since + 1 + int(random_() * 120))
            duplicates.append(
                CustomerRow(
                    0,
                    ONLINE_SOURCE,
                    f"LO{customer_id:07d}",
                    name.upper(),
                    document,
                    kind,
                    email,
                    None,
                    city.name,
                    city.state,
                    birth,
                    None,
                    fromordinal(later),
                    customer_id,
                )
            )
        if plan.kind != "pre":
            roll = random_()
            behaviour = 0 if roll < ON_TIME else 1 if roll < ON_TIME + LATE else 2
            stop = today_ordinal - int(random_() * DEFAULT_WITHIN_DAYS)
            out.billed.append(
                _Billed(
                    customer_id,
                    code,
                    plan.monthly_price,
                    since,
                    1 + customer_id % 28,
                    behaviour,
                    stop,
                )
            )
    for number, row in enumerate(duplicates, start=count + 1):
        rows.append(row._replace(id=number))
    return out


def _month_starts(today: dt.date) -> list[int]:
    """Ordinals of the first day of each month from 25 months before ``today``'s through it."""
    starts = []
    year, month = today.year, today.month
    for _ in range(26):
        starts.append(dt.date(year, month, 1).toordinal())
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return starts[::-1]


def invoice_count(customers: DemoCustomers, today: dt.date, cycle_months: int) -> int:
    """How many invoices :func:`generate_invoices` yields (for the progress bar)."""
    return sum(1 for _ in _issues(customers, today, cycle_months))


def _issues(
    customers: DemoCustomers, today: dt.date, cycle_months: int
) -> Iterator[tuple[_Billed, int]]:
    starts = _month_starts(today)
    today_ordinal = today.toordinal()
    for billed in customers.billed:
        first = bisect.bisect_right(starts, billed.since)  # the month after sign-up
        for month in range(first, len(starts), cycle_months):
            issued = starts[month] + billed.billing_day - 1
            if issued > today_ordinal:
                break
            yield billed, issued


def generate_invoices(
    customers: DemoCustomers, seed: int, today: dt.date, cycle_months: int
) -> Iterator[ReceivableRow]:
    """Every billed customer's invoices, each with its payment (or its absence)."""
    rng = random.Random(f"sincro-demo-invoices-{seed}")
    random_ = rng.random
    today_ordinal = today.toordinal()
    dates: dict[int, dt.date] = {}

    def day(ordinal: int) -> dt.date:
        found = dates.get(ordinal)
        if found is None:
            found = dates[ordinal] = dt.date.fromordinal(ordinal)
        return found

    zero = Decimal("0.00")
    for number, (billed, issued) in enumerate(_issues(customers, today, cycle_months), start=1):
        amount = billed.price * cycle_months
        if random_() < 0.2:
            amount += EXTRAS
        due = issued + DUE_AFTER_DAYS
        paid: int | None
        if due > today_ordinal:
            paid = None  # not due yet
        elif billed.behaviour == 2 and due >= billed.stop:
            paid = None  # a defaulter stopped paying
        elif billed.behaviour == 1:
            paid = due + 1 + int(random_() * 45)
        else:
            paid = max(issued, due - int(random_() * 8))
        if paid is not None and paid > today_ordinal:
            paid = None  # a late payer who has not paid yet
        code = f"FAT-{number:09d}-A"
        if paid is None:
            yield ReceivableRow(SOURCE, code, f"{number:09d}", billed.id, billed.code,
                                day(issued), day(due), None, "open", amount, amount)  # fmt: skip
        else:
            yield ReceivableRow(SOURCE, code, f"{number:09d}", billed.id, billed.code,
                                day(issued), day(due), day(paid), "paid", amount, zero)  # fmt: skip
