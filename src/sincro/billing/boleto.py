"""The boleto's barcode (44 digits) and digitable line (47 digits), FEBRABAN layout.

Pure functions. The barcode is::

    bank(3) currency(1, 9 = real) DV(1) due factor(4) amount(10, cents) free field(25)

``DV`` is the barcode's check digit, modulo 11 over the other 43 digits (weights 2..9 from
the right; a result of 0, 10 or 11 becomes 1). The digitable line moves the same digits into
five fields people type::

    field 1: bank, currency, free[0:5]      + mod-10 DV   (10)
    field 2: free[5:15]                     + mod-10 DV   (11)
    field 3: free[15:25]                    + mod-10 DV   (11)
    field 4: the barcode's DV                             (1)
    field 5: due factor + amount                          (14)

**Due-date factor.** Days since 1997-10-07. It reached 9999 on 2025-02-21 and, by FEBRABAN's
rule, restarted at 1000 on 2025-02-22 (the new base date is 2022-05-29): the factor repeats
every 9,000 days, and a bank tells which cycle a factor belongs to by the one nearest to today.

**Free field: Banco do Brasil (001), "convênio de 7 posições"** (BB's *Especificações
técnicas para confecção de boleto de cobrança*, carteiras 16/17/18)::

    000000(6) + nosso número(17 = convênio(7) + complement(10)) + carteira(2)

Sincro's complement is the receivable's id, so the nosso número is unique per receivable
and the bank's return file points back at it. Another bank is another free-field function.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

CURRENCY_REAL = "9"
FACTOR_BASE = dt.date(1997, 10, 7)
FACTOR_ROLLOVER = dt.date(2025, 2, 22)  # factor 1000 again (9999 was 2025-02-21)
MAX_AMOUNT = Decimal("99999999.99")  # ten digits of cents


class BoletoError(ValueError):
    """Input a boleto cannot carry (amount too large, a field of the wrong size)."""


def _digits(text: str, size: int | None = None) -> bool:
    """ASCII digits only (``str.isdigit`` also takes other scripts' digits), of ``size``."""
    return text.isascii() and text.isdigit() and (size is None or len(text) == size)


def mod10(digits: str) -> str:
    """The FEBRABAN modulo-10 check digit: weights 2, 1, 2, 1 … from the rightmost digit, the
    digits of each product summed; ``(10 - total % 10) % 10``."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        product = int(ch) * (2 if i % 2 == 0 else 1)
        total += product // 10 + product % 10
    return str((10 - total % 10) % 10)


def mod11_barcode(digits: str) -> str:
    """The barcode's check digit: weights 2..9 cycling from the right, ``11 - total % 11``;
    0, 10 and 11 become 1 (FEBRABAN)."""
    total = sum(int(ch) * (2 + i % 8) for i, ch in enumerate(reversed(digits)))
    dv = 11 - total % 11
    return "1" if dv in (0, 10, 11) else str(dv)


def due_factor(due: dt.date) -> int:
    """FEBRABAN's due-date factor (1000..9999, cycling every 9,000 days since 2000-07-03)."""
    days = (due - FACTOR_BASE).days
    if days < 1000:
        raise BoletoError(f"due date {due.isoformat()} is before the factor's first cycle")
    return (days - 1000) % 9000 + 1000


def factor_date(factor: int, near: dt.date) -> dt.date:
    """The due date a factor stands for: of its cycles, the one nearest to ``near``."""
    if not 1000 <= factor <= 9999:
        raise BoletoError(f"factor {factor} out of range")
    first = FACTOR_BASE + dt.timedelta(days=factor)
    cycles = round(((near - first).days) / 9000)
    return first + dt.timedelta(days=9000 * max(cycles, 0))


def amount_field(amount: Decimal) -> str:
    if amount < 0 or amount > MAX_AMOUNT:
        raise BoletoError(f"amount {amount} does not fit a boleto (0 to {MAX_AMOUNT})")
    return f"{int((amount * 100).to_integral_value()):010d}"


def bb_free_field(agreement: str, complement: int, wallet: str) -> str:
    """Banco do Brasil, convênio of 7 digits: 6 zeros, nosso número (convênio + 10-digit
    complement), carteira."""
    if not _digits(agreement, 7):
        raise BoletoError("the Banco do Brasil agreement (convênio) has 7 digits")
    if not _digits(wallet, 2):
        raise BoletoError("the wallet (carteira) has 2 digits")
    if not 0 <= complement < 10**10:
        raise BoletoError("the nosso número complement has at most 10 digits")
    return f"000000{agreement}{complement:010d}{wallet}"


@dataclass(frozen=True, slots=True)
class Boleto:
    barcode: str  # 44 digits
    digitable: str  # 47 digits

    @property
    def digitable_formatted(self) -> str:
        """``AAAAA.AAAAA BBBBB.BBBBBB CCCCC.CCCCCC D EEEEEEEEEEEEEE`` as printed."""
        d = self.digitable
        return f"{d[0:5]}.{d[5:10]} {d[10:15]}.{d[15:21]} {d[21:26]}.{d[26:32]} {d[32]} {d[33:47]}"

    @property
    def nosso_numero(self) -> str:
        return self.barcode[19:44]


def build(bank: str, due: dt.date, amount: Decimal, free_field: str) -> Boleto:
    """The barcode and digitable line of a boleto."""
    if not _digits(bank, 3):
        raise BoletoError("the bank code has 3 digits")
    if not _digits(free_field, 25):
        raise BoletoError("the free field has 25 digits")
    tail = f"{due_factor(due):04d}{amount_field(amount)}"
    head = bank + CURRENCY_REAL
    dv = mod11_barcode(head + tail + free_field)
    barcode = head + dv + tail + free_field
    return Boleto(barcode=barcode, digitable=digitable_from_barcode(barcode))


def digitable_from_barcode(barcode: str) -> str:
    """The 47-digit line of a 44-digit barcode."""
    if not _digits(barcode, 44):
        raise BoletoError("a barcode has 44 digits")
    free = barcode[19:44]
    f1 = barcode[0:4] + free[0:5]
    f2 = free[5:15]
    f3 = free[15:25]
    return f1 + mod10(f1) + f2 + mod10(f2) + f3 + mod10(f3) + barcode[4] + barcode[5:19]


def barcode_from_digitable(line: str) -> str:
    """Back from the 47 digits (punctuation ignored) to the barcode, checking every DV."""
    digits = "".join(ch for ch in line if _digits(ch))
    if len(digits) != 47:
        raise BoletoError("a digitable line has 47 digits")
    f1, f2, f3 = digits[0:9], digits[10:20], digits[21:31]
    for field, dv in ((f1, digits[9]), (f2, digits[20]), (f3, digits[31])):
        if mod10(field) != dv:
            raise BoletoError("a field's check digit does not match")
    barcode = f1[0:4] + digits[32] + digits[33:47] + f1[4:9] + f2 + f3
    if mod11_barcode(barcode[:4] + barcode[5:]) != barcode[4]:
        raise BoletoError("the barcode's check digit does not match")
    return barcode
