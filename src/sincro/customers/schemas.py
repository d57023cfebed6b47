"""Canonical customer and receivable records, as the connectors hand them to the service."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field


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
    updated_at: dt.datetime | None = None


class ReceivableIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    code: str = Field(min_length=1, max_length=60)
    customer_code: str = Field(min_length=1, max_length=40)
    issued: dt.date | None = None
    due_date: dt.date
    amount: Decimal = Field(ge=0, max_digits=14, decimal_places=2)
    balance: Decimal = Field(ge=0, max_digits=14, decimal_places=2)
    updated_at: dt.datetime | None = None
