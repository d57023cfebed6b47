"""Customer, receivable, consent and audience records as other parts hand them over.

``CustomerIn``/``ReceivableIn`` are what the ERP connectors map to; ``CustomerRegistration``
is a person signing up (API, CSV import, the sign-up inbox); ``Segment`` describes an
audience for messaging."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from sincro.automation.segments import InterestCriterion
from sincro.text_pt import UFS, is_valid_cnpj, is_valid_cpf, is_valid_email, only_digits

Channel = Literal["email", "sms", "whatsapp", "chat"]
Purpose = Literal["billing", "service", "marketing"]
CHANNELS: tuple[str, ...] = ("email", "sms", "whatsapp", "chat")
PURPOSES: tuple[str, ...] = ("billing", "service", "marketing")
UF_SET: frozenset[str] = frozenset(UFS)


def normalize_email(text: str | None) -> str | None:
    """Trimmed, lower case (the domain is case-insensitive and, in practice, so are local
    parts at every provider people use); None for blank."""
    if text is None:
        return None
    text = text.strip().lower()
    return text or None


class CustomerIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    code: str = Field(min_length=1, max_length=40)
    name: str = Field(min_length=1, max_length=200)
    document: str | None = Field(default=None, pattern=r"^(\d{11}|\d{14})$")
    document_kind: str | None = Field(default=None, pattern=r"^(cpf|cnpj)$")
    email: str | None = Field(default=None, max_length=200)
    phone: str | None = Field(default=None, max_length=30)
    city: str | None = Field(default=None, max_length=120)
    state: str | None = Field(default=None, pattern=r"^[A-Z]{2}$")
    birth_date: dt.date | None = None
    plan: str | None = Field(default=None, max_length=60)
    customer_since: dt.date | None = None
    updated_at: dt.datetime | None = None

    @field_validator("email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        return normalize_email(value)


class ReceivableIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    code: str = Field(min_length=1, max_length=60)
    number: str | None = Field(default=None, max_length=40)
    customer_code: str = Field(min_length=1, max_length=40)
    issued: dt.date | None = None
    due_date: dt.date
    paid: dt.date | None = None
    status: Literal["open", "paid", "cancelled"] | None = None
    amount: Decimal = Field(ge=0, max_digits=14, decimal_places=2)
    balance: Decimal = Field(ge=0, max_digits=14, decimal_places=2)
    updated_at: dt.datetime | None = None

    def resolved_status(self) -> str:
        """The ERP's status when it gives one; otherwise paid when nothing is left to pay."""
        if self.status:
            return self.status
        return "paid" if self.balance == 0 else "open"


class CustomerRegistration(BaseModel):
    """A person registering (API, CSV line, sign-up e-mail). The document is a CPF or CNPJ
    with valid check digits (punctuation allowed); the e-mail is normalized."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(min_length=2, max_length=200)
    document: str = Field(min_length=11, max_length=18)
    email: str | None = Field(default=None, max_length=200)
    phone: str | None = Field(default=None, max_length=30)
    city: str | None = Field(default=None, max_length=120)
    state: str | None = Field(default=None, min_length=2, max_length=2)
    plan_interest: str | None = Field(default=None, max_length=60)
    birth_date: dt.date | None = None
    customer_since: dt.date | None = None

    @field_validator("document")
    @classmethod
    def _document(cls, value: str) -> str:
        digits = only_digits(value)
        if len(digits) == 11 and is_valid_cpf(digits):
            return digits
        if len(digits) == 14 and is_valid_cnpj(digits):
            return digits
        raise ValueError("not a valid CPF or CNPJ (check digits)")

    @field_validator("email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        value = normalize_email(value)
        if value is not None and not is_valid_email(value):
            raise ValueError("not a valid e-mail address")
        return value

    @field_validator("state")
    @classmethod
    def _state(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.upper()
        if value not in UF_SET:
            raise ValueError("not a Brazilian UF")
        return value

    @field_validator("birth_date")
    @classmethod
    def _birth(cls, value: dt.date | None) -> dt.date | None:
        if value is not None and not dt.date(1900, 1, 1) <= value <= dt.date.today():
            raise ValueError("birth date out of range")
        return value


class Registered(BaseModel):
    customer_id: int
    created: bool


class Segment(BaseModel):
    """An audience: every filter given must hold (AND); lists are any-of (OR). Consent for
    ``channel`` + ``purpose`` is always required, and suppressed addresses are left out."""

    model_config = ConfigDict(extra="forbid")

    channel: Channel = "email"
    purpose: Purpose = "marketing"
    states: list[str] = Field(default_factory=list, max_length=27)
    cities: list[str] = Field(default_factory=list, max_length=500)
    plans: list[str] = Field(default_factory=list, max_length=200)
    defaulter: bool | None = None  # True: only defaulters; False: only customers in good standing
    min_days_overdue: int | None = Field(default=None, ge=0, le=36500)
    max_days_overdue: int | None = Field(default=None, ge=0, le=36500)
    customer_ids: list[int] = Field(default_factory=list, max_length=10_000)
    # chat interests (automation's; its criterion and SQL live there): asked about X lately
    interest: InterestCriterion | None = None

    @field_validator("states")
    @classmethod
    def _states(cls, value: list[str]) -> list[str]:
        upper = [s.upper() for s in value]
        unknown = [s for s in upper if s not in UF_SET]
        if unknown:
            raise ValueError(f"not Brazilian UFs: {', '.join(sorted(set(unknown)))}")
        return upper

    @model_validator(mode="after")
    def _overdue_range(self) -> Segment:
        low, high = self.min_days_overdue, self.max_days_overdue
        if low is not None and high is not None and low > high:
            raise ValueError("min_days_overdue is greater than max_days_overdue")
        return self


class AudienceMember(BaseModel):
    """What messaging needs to address and personalise one message."""

    customer_id: int
    name: str
    email: str
    city: str | None
    state: str | None
    plan: str | None
    time_zone: str


# --- the customers API -----------------------------------------------------------------------

NAME_PATTERN = r"^[^\x00-\x1f\x7f]*$"  # no control characters (NUL included) in free text
DOCUMENT_INPUT_PATTERN = r"^[0-9./\- ]+$"


class ConsentIn(BaseModel):
    """A consent given or withdrawn, with what proves it."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    channel: Channel = "email"
    purpose: Purpose = "marketing"
    granted: bool
    source: str = Field(default="api", min_length=1, max_length=40, pattern=NAME_PATTERN)
    evidence: str = Field(min_length=1, max_length=300, pattern=NAME_PATTERN)


class CustomerRegistrationIn(CustomerRegistration):
    """``POST /v1/customers``: a registration, optionally with consents given now (each
    recorded with the request as evidence)."""

    name: str = Field(min_length=2, max_length=200, pattern=NAME_PATTERN)
    document: str = Field(min_length=11, max_length=18, pattern=DOCUMENT_INPUT_PATTERN)
    email: str | None = Field(default=None, max_length=200, pattern=NAME_PATTERN)
    phone: str | None = Field(default=None, max_length=30, pattern=NAME_PATTERN)
    city: str | None = Field(default=None, max_length=120, pattern=NAME_PATTERN)
    plan_interest: str | None = Field(default=None, max_length=60, pattern=NAME_PATTERN)
    consents: list[ConsentIn] = Field(default_factory=list, max_length=12)

    def registration(self) -> CustomerRegistration:
        return CustomerRegistration.model_validate(self.model_dump(exclude={"consents"}))


class CustomerBatchIn(BaseModel):
    """``POST /v1/customers/batch``: up to 1,000 registrations, all or none (a bad one is a
    422 naming it, e.g. ``customers[3].document``)."""

    model_config = ConfigDict(extra="forbid")

    customers: list[CustomerRegistrationIn] = Field(min_length=1, max_length=1000)


class BatchItemOut(BaseModel):
    customer_id: int
    created: bool


class CustomerBatchOut(BaseModel):
    items: list[BatchItemOut]
    created: int
    joined: int


class CustomerPatch(BaseModel):
    """``PATCH /v1/customers/{id}``: only the fields sent change; ``null`` clears a contact
    field (name and document cannot be cleared; the document is fixed once known)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str | None = Field(default=None, min_length=2, max_length=200, pattern=NAME_PATTERN)
    email: str | None = Field(default=None, max_length=200, pattern=NAME_PATTERN)
    phone: str | None = Field(default=None, max_length=30, pattern=NAME_PATTERN)
    city: str | None = Field(default=None, max_length=120, pattern=NAME_PATTERN)
    state: str | None = Field(default=None, min_length=2, max_length=2)
    plan: str | None = Field(default=None, max_length=60, pattern=NAME_PATTERN)
    birth_date: dt.date | None = None
    customer_since: dt.date | None = None

    @field_validator("email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        return CustomerRegistration._email(value)

    @field_validator("state")
    @classmethod
    def _state(cls, value: str | None) -> str | None:
        return CustomerRegistration._state(value)

    @field_validator("birth_date")
    @classmethod
    def _birth(cls, value: dt.date | None) -> dt.date | None:
        return CustomerRegistration._birth(value)

    @field_validator("name")
    @classmethod
    def _name_not_cleared(cls, value: str | None) -> str | None:
        if value is None:
            raise ValueError("name cannot be cleared")
        return value


class ConsentChange(BaseModel):
    """``PUT /v1/customers/{id}/consents/{channel}/{purpose}``."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    granted: bool
    source: str = Field(default="api", min_length=1, max_length=40, pattern=NAME_PATTERN)
    evidence: str = Field(min_length=1, max_length=300, pattern=NAME_PATTERN)


class ConsentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    channel: str
    purpose: str
    granted: bool
    updated_at: dt.datetime


class ConsentEventOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    channel: str
    purpose: str
    granted: bool
    source: str
    evidence: str
    recorded_at: dt.datetime


class ReceivableOut(BaseModel):
    id: int
    number: str | None
    source: str
    external_code: str
    issued_on: dt.date | None
    due_date: dt.date
    paid_on: dt.date | None
    status: str
    amount: Decimal
    balance: Decimal
    days_overdue: int = Field(description="Days past due in the customer's local time (0: not)")


class CustomerOut(BaseModel):
    """A customer as a role may see it: personal fields masked (``***.456.789-**``) or
    ``null`` where the role may not see them."""

    id: int
    name: str
    document: str | None
    document_kind: str | None
    email: str | None
    phone: str | None
    city: str | None
    state: str | None
    plan: str | None
    birth_date: dt.date | None
    customer_since: dt.date | None
    source: str
    external_code: str
    merged_into_id: int | None
    erased: bool
    defaulter: bool
    days_overdue: int = Field(description="Days the oldest open receivable is past due (0: none)")
    time_zone: str


class CustomerDetail(CustomerOut):
    merged_records: list[int] = Field(description="Ids of records merged into this one")
    consents: list[ConsentOut]
    consent_history: list[ConsentEventOut]
    receivables: list[ReceivableOut] | None = Field(
        description="null when the role may not see receivables"
    )


class CustomerPage(BaseModel):
    items: list[CustomerOut]
    total: int
    page: int
    per_page: int


class ReceivablePage(BaseModel):
    items: list[ReceivableOut]
    total: int


class SuppressionIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    email: str = Field(min_length=3, max_length=200, pattern=NAME_PATTERN)
    purpose: Literal["*", "billing", "service", "marketing"] = "*"
    reason: Literal["unsubscribed", "hard_bounce", "complaint", "manual"] = "manual"
    detail: str = Field(default="", max_length=300, pattern=NAME_PATTERN)

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        address = normalize_email(value) or ""
        if not is_valid_email(address):
            raise ValueError("not a valid e-mail address")
        return address


class SuppressionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    email: str
    purpose: str
    reason: str
    detail: str
    hits: int
    created_at: dt.datetime


class SuppressionPage(BaseModel):
    items: list[SuppressionOut]
    total: int
    offset: int
    limit: int


class ImportRejectOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    line: int
    column: str
    reason: str
    value: str


class ImportOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    file_name: str
    encoding: str
    delimiter: str
    dry_run: bool
    status: str
    total_lines: int
    processed_lines: int
    created: int
    updated: int
    rejected: int
    error: str
    started_at: dt.datetime
    updated_at: dt.datetime
    finished_at: dt.datetime | None


class ImportResult(ImportOut):
    rejects: list[ImportRejectOut] = Field(description="The first rejects (all: the CSV report)")


class ErasureIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    reason: str = Field(min_length=3, max_length=300, pattern=NAME_PATTERN)


class ErasureOut(BaseModel):
    customer_id: int
    erased_at: dt.datetime
    already_erased: bool
    counts: dict[str, dict[str, int]] = Field(description="Rows touched, per domain and kind")


class CustomerErased(BaseModel):
    """Topic ``customer.erased``: drop whatever personal data of these ids you keep."""

    customer_id: int
    merged_ids: list[int] = Field(default_factory=list)


class CustomerChanged(BaseModel):
    """Topic ``customer.changed``: a customer was registered, updated, merged or its consent
    changed (ids only: no personal data travels on the feed)."""

    customer_id: int
    change: Literal["registered", "updated", "consent", "imported"]
