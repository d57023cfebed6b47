"""PIX "copia e cola": the static BR Code (EMV® QRCPS-MPM) a customer pastes in a bank app.

Pure functions. Each field is ``ID(2) length(2) value``; the payload is::

    00 "01"                       payload format indicator
    26 { 00 "br.gov.bcb.pix"      merchant account information: the PIX GUI
         01 <key> }               the receiver's key (CPF/CNPJ, e-mail, +55 phone, random)
    52 "0000"                     merchant category code
    53 "986"                      currency (BRL)
    54 <amount>                   optional, e.g. "123.45"
    58 "BR"                       country
    59 <name>                     receiver's name (≤ 25)
    60 <city>                     receiver's city (≤ 15)
    62 { 05 <txid> }              additional data: the transaction id (≤ 25, ``***``: none)
    63 <CRC>                      CRC16-CCITT-FALSE (poly 0x1021, init 0xFFFF) of everything
                                  before it *including* "6304", four upper-case hex digits

Checked against the static example of the Banco Central's *Manual de Padrões para Iniciação
do Pix* (key ``123e4567-e12b-12d1-a456-426655440000``, "Fulano de Tal", "BRASILIA", CRC
``1D3D``) and the CRC's standard check value (``123456789`` → ``29B1``).

Names and cities are reduced to ASCII (accents dropped, case kept): the manual asks for the
EMV character set and bank apps show them as given.
"""

from __future__ import annotations

import re
import unicodedata
from decimal import Decimal

GUI = "br.gov.bcb.pix"
_TXID = re.compile(r"^[A-Za-z0-9]{1,25}$")


class PixError(ValueError):
    """A value the BR Code cannot carry."""


def crc16_ccitt_false(data: bytes) -> int:
    """CRC-16/CCITT-FALSE: polynomial 0x1021, initial value 0xFFFF, no reflection, no xor."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc


def field(tag: str, value: str) -> str:
    if len(value) > 99:
        raise PixError(f"field {tag} is longer than 99 characters")
    return f"{tag}{len(value):02d}{value}"


def ascii_text(text: str, limit: int) -> str:
    """Accents dropped, only printable ASCII kept, trimmed to ``limit``."""
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    plain = "".join(ch for ch in plain if 32 <= ord(ch) < 127).strip()
    return plain[:limit].strip()


def txid_for(reference: str) -> str:
    """A transaction id from a reference: letters and digits only, at most 25."""
    return re.sub(r"[^A-Za-z0-9]", "", reference)[:25] or "***"


def br_code(
    key: str,
    name: str,
    city: str,
    *,
    amount: Decimal | None = None,
    txid: str = "***",
) -> str:
    """The copy-and-paste BR Code for a payment to ``key``."""
    key = key.strip()
    if not key or len(key) > 77 or not key.isascii() or not key.isprintable():
        raise PixError("a PIX key has 1 to 77 printable ASCII characters")
    if txid != "***" and not _TXID.match(txid):
        raise PixError("a txid has 1 to 25 letters or digits")
    merchant_name = ascii_text(name, 25)
    merchant_city = ascii_text(city, 15)
    if not merchant_name or not merchant_city:
        raise PixError("the receiver's name and city are required")
    parts = [
        field("00", "01"),
        field("26", field("00", GUI) + field("01", key)),
        field("52", "0000"),
        field("53", "986"),
    ]
    if amount is not None:
        if amount <= 0 or amount >= Decimal("10000000000"):
            raise PixError("the amount must be positive")
        parts.append(field("54", f"{amount.quantize(Decimal('0.01'))}"))
    parts += [
        field("58", "BR"),
        field("59", merchant_name),
        field("60", merchant_city),
        field("62", field("05", txid)),
        "6304",
    ]
    body = "".join(parts)
    return body + f"{crc16_ccitt_false(body.encode('ascii')):04X}"


def parse(code: str) -> dict[str, str]:
    """The top-level fields of a BR Code, after checking its CRC (nested ones stay raw)."""
    if len(code) < 8 or code[-8:-4] != "6304":
        raise PixError("no CRC field at the end")
    if f"{crc16_ccitt_false(code[:-4].encode('ascii')):04X}" != code[-4:].upper():
        raise PixError("CRC does not match")
    return tlv(code)


def tlv(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    i = 0
    while i < len(text):
        tag, size = text[i : i + 2], text[i + 2 : i + 4]
        if len(tag) < 2 or not size.isdigit():
            raise PixError("malformed field")
        value = text[i + 4 : i + 4 + int(size)]
        if len(value) != int(size):
            raise PixError(f"field {tag} is truncated")
        out[tag] = value
        i += 4 + int(size)
    return out
