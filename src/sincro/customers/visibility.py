"""Which personal data each role may see of a customer (console roles and API keys).

One table decides it for the API and the console (docs/architecture.md, "Console roles"):

| role | CPF/CNPJ | e-mail | phone | birth date | receivables | edit, import, LGPD |
| --- | --- | --- | --- | --- | --- | --- |
| admin | full | full | full | yes | yes | yes |
| billing | masked | full | full | no | yes | no |
| marketing | masked | full | masked | no | no (defaulter flag only) | no |
| agent | masked | masked | masked | no | yes | no |

Masks keep what a person needs to recognise a record over the phone and nothing more: the
middle six digits of a CPF (``***.456.789-**``), the middle of a CNPJ, the first two
characters and the domain of an e-mail (``an***@exemplo.com.br``), the last four digits of a
phone. A role not in the table sees no customer at all.
"""

from __future__ import annotations

from dataclasses import dataclass

from sincro.text_pt import only_digits


@dataclass(frozen=True, slots=True)
class View:
    role: str
    document: bool  # True: in full; False: masked
    email: bool
    phone: bool
    birth_date: bool
    receivables: bool
    manage: bool  # edit, consent changes, suppressions, import, export and erase


VIEWS: dict[str, View] = {
    "admin": View("admin", True, True, True, True, True, True),
    "billing": View("billing", False, True, True, False, True, False),
    "marketing": View("marketing", False, True, False, False, False, False),
    "agent": View("agent", False, False, False, False, True, False),
}
CUSTOMER_ROLES = frozenset(VIEWS)


def view_for(role: str | None) -> View | None:
    """The view of ``role``; None when it may not see customers."""
    return VIEWS.get(role or "")


def mask_document(document: str | None) -> str | None:
    """``52998224725`` → ``***.982.247-**``; a CNPJ keeps its middle (``**.345.678/****-**``)."""
    if not document:
        return document
    digits = only_digits(document)
    if len(digits) == 11:
        return f"***.{digits[3:6]}.{digits[6:9]}-**"
    if len(digits) == 14:
        return f"**.{digits[2:5]}.{digits[5:8]}/****-**"
    return "*" * len(document)


def mask_email(email: str | None) -> str | None:
    """``ana.souza@exemplo.com.br`` → ``an***@exemplo.com.br``."""
    if not email:
        return email
    local, at, domain = email.partition("@")
    if not at:
        return "***"
    return f"{local[:2]}***@{domain}"


def mask_phone(phone: str | None) -> str | None:
    """Only the last four digits: ``(**) *****-5678``."""
    if not phone:
        return phone
    digits = only_digits(phone)
    return f"(**) *****-{digits[-4:]}" if len(digits) >= 4 else "****"
