"""Publishable site keys: what lets a web page open widget conversations.

A site key is public by design (it sits in the page's HTML, like any publishable key), so its
value is stored as is; what it is worth comes from the origins it is bound to (checked on
every request against the ``Origin`` header, and the only origins CORS answers), the
per-address and per-key rate limits, and what it can do: open a widget conversation and
nothing else (no API route accepts it)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, Boolean, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from sincro.db import Base, UTCDateTime, utcnow


class SiteKey(Base):
    __tablename__ = "assistant_site_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80))
    public_key: Mapped[str] = mapped_column(String(64), unique=True)  # pk_<random>
    origins: Mapped[list[str]] = mapped_column(JSON, default=list)  # scheme://host[:port]
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # requests per minute over every address; None: SINCRO_ASSISTANT_SITE_KEY_RATE_PER_MINUTE
    rate_limit_per_minute: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
