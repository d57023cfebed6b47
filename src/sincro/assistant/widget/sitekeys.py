"""Site keys: create, list, revoke (audited), and the checks of a public request: the key is
active and the request's ``Origin`` is one of its origins, compared exactly.

Origins are kept canonical (``https://loja.example``, ``http://127.0.0.1:8000``: lower case,
no default port, no path), the form browsers send in ``Origin``; a request whose ``Origin``
is not byte-for-byte one of them is refused, ``null`` included."""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from sincro import audit
from sincro.assistant.widget.models import SiteKey
from sincro.audit import Actor, Entity
from sincro.db import utcnow
from sincro.errors import Forbidden, InvalidInput, NotFound, Unauthorized
from sincro.inputs import CONTROL_CHARACTERS

CACHE_SECONDS = 30.0
MAX_ORIGINS = 20
DEFAULT_PORTS = {"http": 80, "https": 443}
PREFIX = "pk_"


@dataclass(frozen=True, slots=True)
class ActiveKey:
    """What a public request needs of a site key (cached per process for 30 s)."""

    id: int
    origins: frozenset[str]
    rate_limit_per_minute: int | None


def canonical_origin(value: str, *, allow_http: bool, field: str = "origins") -> str:
    """``value`` as a browser writes it in ``Origin`` (``scheme://host[:port]``), or a 422
    naming ``field``: http(s) only (http only when ``allow_http``), no credentials, path,
    query or fragment."""
    text = value.strip()
    if not text or len(text) > 200 or CONTROL_CHARACTERS.search(text) or "\\" in text:
        raise InvalidInput(
            "an origin is scheme://host[:port], e.g. https://loja.example", field=field
        )
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        raise InvalidInput(f"not an origin: {text!r}", field=field) from None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise InvalidInput("an origin's scheme is https (or http)", field=field)
    if scheme == "http" and not allow_http:
        raise InvalidInput(
            "http origins are refused here (SINCRO_ASSISTANT_SITE_KEY_ALLOW_HTTP)", field=field
        )
    if parts.username or parts.password or parts.path not in ("", "/") or parts.query:
        raise InvalidInput("an origin has no credentials, path or query", field=field)
    if parts.fragment or not parts.hostname:
        raise InvalidInput("an origin needs a host and no fragment", field=field)
    host = parts.hostname.lower()
    host = f"[{host}]" if ":" in host else host
    suffix = "" if port in (None, DEFAULT_PORTS[scheme]) else f":{port}"
    return f"{scheme}://{host}{suffix}"


def canonical_origins(values: Sequence[str], *, allow_http: bool) -> list[str]:
    if not values:
        raise InvalidInput("a site key needs at least one origin", field="origins")
    if len(values) > MAX_ORIGINS:
        raise InvalidInput(f"at most {MAX_ORIGINS} origins", field="origins")
    found: list[str] = []
    for i, value in enumerate(values):
        origin = canonical_origin(value, allow_http=allow_http, field=f"origins[{i}]")
        if origin not in found:
            found.append(origin)
    return found


def view(key: SiteKey) -> dict[str, Any]:
    """What the audit log and the admin API show of a key."""
    return {
        "name": key.name,
        "public_key": key.public_key,
        "origins": list(key.origins),
        "active": key.active,
        "rate_limit_per_minute": key.rate_limit_per_minute,
    }


def create(
    session: Session,
    name: str,
    origins: Sequence[str],
    *,
    allow_http: bool,
    rate_limit_per_minute: int | None = None,
    actor: Actor | None = None,
) -> SiteKey:
    """A new active key for ``origins``; audited as ``site_key.create``."""
    key = SiteKey(
        name=name,
        public_key=PREFIX + secrets.token_urlsafe(18),
        origins=canonical_origins(origins, allow_http=allow_http),
        active=True,
        rate_limit_per_minute=rate_limit_per_minute,
        created_at=utcnow(),
    )
    session.add(key)
    session.flush()
    audit.record(session, actor or Actor.cli(), "site_key.create", _entity(key), None, view(key))
    forget()
    return key


def revoke(session: Session, key_id: int, *, actor: Actor | None = None) -> SiteKey:
    """Revoke a key: its page can no longer open or continue conversations (other processes
    notice within 30 s). Audited as ``site_key.revoke``."""
    key = session.get(SiteKey, key_id)
    if key is None:
        raise NotFound(f"site key {key_id} not found")
    before = view(key)
    if key.active:
        key.active, key.revoked_at = False, utcnow()
    audit.record(session, actor or Actor.cli(), "site_key.revoke", _entity(key), before, view(key))
    forget()
    return key


def list_keys(session: Session) -> Sequence[SiteKey]:
    return session.scalars(select(SiteKey).order_by(SiteKey.id)).all()


def for_origin(session: Session, origin: str) -> SiteKey | None:
    """The newest active key that allows ``origin`` (the demo page embeds it)."""
    for key in reversed(list_keys(session)):
        if key.active and origin in key.origins:
            return key
    return None


def _entity(key: SiteKey) -> Entity:
    return Entity("site_key", key.id)


# --- the public side's checks, cached per process ------------------------------------------

_cache: dict[str, tuple[float, ActiveKey | None]] = {}
_origins: list[tuple[float, frozenset[str]]] = []
_lock = threading.Lock()


def forget() -> None:
    with _lock:
        _cache.clear()
        _origins.clear()


def active(session: Session, public_key: str) -> ActiveKey | None:
    """The active key of that value (None for unknown or revoked ones), cached 30 s."""
    entry = _cache.get(public_key)
    if entry and time.monotonic() - entry[0] < CACHE_SECONDS:
        return entry[1]
    row = session.scalar(select(SiteKey).where(SiteKey.public_key == public_key))
    found = None
    if row is not None and row.active:
        found = ActiveKey(row.id, frozenset(row.origins), row.rate_limit_per_minute)
    with _lock:
        if len(_cache) > 10_000:  # garbage keys cannot grow it without bound
            _cache.clear()
        _cache[public_key] = (time.monotonic(), found)
    return found


def active_by_id(session: Session, key_id: int) -> ActiveKey | None:
    """The active key of that id (a conversation's), through the same cache."""
    row = session.get(SiteKey, key_id)
    return None if row is None else active(session, row.public_key)


def every_origin(session: Session) -> frozenset[str]:
    """The origins of every active key (CORS preflights answer only these), cached 30 s."""
    if _origins and time.monotonic() - _origins[0][0] < CACHE_SECONDS:
        return _origins[0][1]
    rows = session.scalars(select(SiteKey).where(SiteKey.active.is_(True))).all()
    found = frozenset(origin for row in rows for origin in row.origins)
    with _lock:
        _origins[:] = [(time.monotonic(), found)]
    return found


def authorize(session: Session, public_key: str | None, origin: str | None) -> ActiveKey:
    """The key a request to open a conversation presents, checked against its ``Origin``:
    401 without a key or with an unknown or revoked one, 403 from another origin."""
    if not public_key:
        raise Unauthorized("missing site key: send it in the X-Site-Key header", field="X-Site-Key")
    if not public_key.startswith(PREFIX) or len(public_key) > 64:
        raise Unauthorized("unknown site key", field="X-Site-Key")
    key = active(session, public_key)
    if key is None:
        raise Unauthorized("unknown site key", field="X-Site-Key")
    require_origin(key, origin)
    return key


def require_origin(key: ActiveKey, origin: str | None) -> None:
    if origin is None or origin not in key.origins:
        raise Forbidden("this origin may not use this site key", field="Origin")
