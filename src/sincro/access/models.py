from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlalchemy import Boolean, Column, ForeignKey, Integer, String, Table
from sqlalchemy.orm import Mapped, mapped_column

from sincro.db import Base, UTCDateTime, utcnow


class Role(StrEnum):
    """What an API key may do."""

    admin = "admin"
    channel = "channel"
    store = "store"
    billing = "billing"  # finance: billing and defaulter reports (aggregates only)
    marketing = "marketing"  # campaigns and customer reports (aggregates only)


#: What a console user may be: the nav of each domain names the roles that see each section
#: (docs/architecture.md, "Console roles and what each may see").
CONSOLE_ROLES: tuple[str, ...] = ("admin", "store", "agent", "billing", "marketing")


api_key_locations = Table(
    "api_key_locations",
    Base.metadata,
    Column("api_key_id", ForeignKey("api_keys.id", ondelete="CASCADE"), primary_key=True),
    Column("location_id", ForeignKey("locations.id", ondelete="CASCADE"), primary_key=True),
)


class ApiKey(Base):
    """An API key. Only a SHA-256 of the secret part is stored: keys are 256-bit random
    values, so a slow password hash would add latency to every request and no safety."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(12))
    rate_limit_per_minute: Mapped[int | None] = mapped_column(Integer)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class ConsoleUser(Base):
    """A person who signs in to the web console (password hashed with scrypt)."""

    __tablename__ = "console_users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(200), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(300))
    role: Mapped[str] = mapped_column(String(12), default=Role.admin)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
