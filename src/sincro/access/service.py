"""API keys, console users and the principal a request acts as."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from sincro import audit
from sincro.access.models import CONSOLE_ROLES, ApiKey, ConsoleUser, Role, api_key_locations
from sincro.audit import Actor, Entity
from sincro.catalog import service as catalog
from sincro.db import utcnow
from sincro.errors import Forbidden, InvalidInput, NotFound, Unauthorized

KEY_CACHE_SECONDS = 30.0
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1


@dataclass(frozen=True, slots=True)
class Principal:
    key_id: int
    name: str
    role: Role
    locations: frozenset[str]
    rate_limit_per_minute: int | None

    @property
    def is_admin(self) -> bool:
        return self.role == Role.admin

    @property
    def source(self) -> str:
        return f"key:{self.name}"

    def actor(self, request: Any = None) -> Actor:
        """This key as the audit log's actor, with the request's client and request id."""
        return Actor.key(self.key_id, self.name).seen_at(request)

    def require(self, *roles: Role) -> None:
        if self.role not in roles and self.role != Role.admin:
            allowed = ", ".join(r.value for r in roles)
            raise Forbidden(f"this key has role {self.role.value}; this needs {allowed}")

    def require_location(self, code: str) -> None:
        if self.role == Role.store and code not in self.locations:
            raise Forbidden(f"this store key may not change location {code}", field="location")


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_key(
    session: Session,
    name: str,
    role: Role,
    locations: Sequence[str] = (),
    rate_limit_per_minute: int | None = None,
    *,
    actor: Actor | None = None,
) -> tuple[ApiKey, str]:
    """Create a key; returns the row and the plaintext, which is never stored. Audited as
    ``key.create`` by ``actor`` (default: the CLI)."""
    if role == Role.store and not locations:
        raise InvalidInput("a store key needs at least one location", field="locations")
    found = catalog.places_by_code(session, locations)
    missing = [code for code in locations if code not in found]
    if missing:
        raise NotFound(f"unknown location(s): {', '.join(missing)}", field="locations")
    prefix, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
    key = ApiKey(
        name=name,
        prefix=prefix,
        secret_hash=_digest(secret),
        role=role.value,
        rate_limit_per_minute=rate_limit_per_minute,
        active=True,
    )
    session.add(key)
    session.flush()
    if found:
        session.execute(
            api_key_locations.insert(),
            [{"api_key_id": key.id, "location_id": loc.id} for loc in found.values()],
        )
    after = {**_key_view(key), "locations": sorted(found)}
    audit.record(session, actor or Actor.cli(), "key.create", _key_entity(key), None, after)
    return key, f"sk_{prefix}_{secret}"


def revoke_key(session: Session, prefix: str, *, actor: Actor | None = None) -> ApiKey:
    """Revoke a key (principals cached by other processes expire within 30 s). Audited as
    ``key.revoke`` by ``actor`` (default: the CLI)."""
    key = session.scalar(select(ApiKey).where(ApiKey.prefix == prefix))
    if key is None:
        raise NotFound(f"no key with prefix {prefix}", field="prefix")
    before = _key_view(key)
    key.active, key.revoked_at = False, utcnow()
    forget_keys()
    audit.record(
        session, actor or Actor.cli(), "key.revoke", _key_entity(key), before, _key_view(key)
    )
    return key


def _key_entity(key: ApiKey) -> Entity:
    return Entity("api_key", key.id)


def _key_view(key: ApiKey) -> dict[str, Any]:
    """What the audit log keeps of a key (never its secret or hash)."""
    return {
        "name": key.name,
        "prefix": key.prefix,
        "role": key.role,
        "rate_limit_per_minute": key.rate_limit_per_minute,
        "active": key.active,
    }


def list_keys(session: Session) -> Sequence[ApiKey]:
    return session.scalars(select(ApiKey).order_by(ApiKey.id)).all()


_key_cache: dict[str, tuple[float, Principal]] = {}
_key_lock = threading.Lock()
# A key in use is re-read in the background from half its cache life, one re-read at a time
# per key (:func:`use_cached`), so under steady traffic its entry never expires. When it
# did expire, every request in flight at that moment missed it together: on a busy api
# process thousands of requests each read the key from the database through the thread
# pool, seconds behind one another (the mixed flash sale's worst tail, eighth stop).
KEY_REFRESH_AFTER_SECONDS = KEY_CACHE_SECONDS / 2
_refreshing: set[str] = set()


def forget_keys() -> None:
    _key_cache.clear()


def cached_principal(plaintext: str) -> Principal | None:
    """The principal for a key seen in the last few seconds (no database access)."""
    entry = _key_cache.get(plaintext)
    if entry and time.monotonic() - entry[0] < KEY_CACHE_SECONDS:
        return entry[1]
    return None


def use_cached(plaintext: str) -> tuple[Principal | None, bool]:
    """The principal for a key seen in the last few seconds (None when it is not cached or
    has expired), and True when this caller claimed its re-read: the key is past half its
    cache life and no re-read of it is under way. The claimant then re-reads it
    (:func:`refresh_key`, off the event loop)."""
    entry = _key_cache.get(plaintext)
    if entry is None:
        return None, False
    age = time.monotonic() - entry[0]
    if age >= KEY_CACHE_SECONDS:
        return None, False
    return entry[1], age >= KEY_REFRESH_AFTER_SECONDS and _claim(plaintext)


def _claim(plaintext: str) -> bool:
    with _key_lock:
        if plaintext in _refreshing:
            return False
        _refreshing.add(plaintext)
    return True


def refresh_key(session: Session, plaintext: str) -> None:
    """Re-read a key whose re-read :func:`use_cached` claimed: cached afresh while it is
    valid, dropped from the cache when it no longer is (revoked or deleted meanwhile). A
    failure to read (the database away) leaves the entry to expire as it would have."""
    try:
        _read_key(session, plaintext)
    except Unauthorized:
        with _key_lock:
            _key_cache.pop(plaintext, None)
    finally:
        with _key_lock:
            _refreshing.discard(plaintext)


def authenticate(session: Session, plaintext: str) -> Principal:
    """Check an ``sk_<prefix>_<secret>`` key against its stored hash."""
    cached = cached_principal(plaintext)
    if cached:
        return cached
    return _read_key(session, plaintext)


def _read_key(session: Session, plaintext: str) -> Principal:
    """The key's principal from the database (then cached), or :class:`Unauthorized`."""
    parts = plaintext.split("_", 2)
    if len(parts) != 3 or parts[0] != "sk":
        raise Unauthorized("malformed API key; expected sk_<prefix>_<secret>", field="X-API-Key")
    key = session.scalar(select(ApiKey).where(ApiKey.prefix == parts[1]))
    if key is None or not hmac.compare_digest(key.secret_hash, _digest(parts[2])):
        raise Unauthorized("unknown API key", field="X-API-Key")
    if not key.active:
        raise Unauthorized("this API key was revoked", field="X-API-Key")
    codes = (
        session.execute(
            select(api_key_locations.c.location_id).where(api_key_locations.c.api_key_id == key.id)
        )
        .scalars()
        .all()
    )
    names = [catalog.location_code(session, location_id) for location_id in codes]
    principal = Principal(
        key.id, key.name, Role(key.role), frozenset(names), key.rate_limit_per_minute
    )
    with _key_lock:
        _key_cache[plaintext] = (time.monotonic(), principal)
    return principal


# --- console users ------------------------------------------------------------------------


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P)
    b64 = base64.b64encode
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${b64(salt).decode()}${b64(digest).decode()}"


def check_password(password: str, stored: str) -> bool:
    try:
        _, n, r, p, salt, digest = stored.split("$")
        candidate = hashlib.scrypt(
            password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p)
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(candidate, base64.b64decode(digest))


def active_user(session: Session, user_id: int) -> ConsoleUser | None:
    """The console user with that id, if it exists and is active."""
    user = session.get(ConsoleUser, user_id)
    return user if user is not None and user.active else None


@dataclass(frozen=True, slots=True)
class UserRef:
    """What other domains may know of a console user: id, name (never the e-mail), role."""

    id: int
    name: str
    role: str
    active: bool


def users_by_id(session: Session, ids: Iterable[int | None]) -> dict[int, UserRef]:
    """The console users with those ids (active or not), by id."""
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    rows = session.execute(
        select(ConsoleUser.id, ConsoleUser.name, ConsoleUser.role, ConsoleUser.active).where(
            ConsoleUser.id.in_(wanted)
        )
    )
    return {int(i): UserRef(int(i), str(n), str(r), bool(a)) for i, n, r, a in rows}


def active_user_ids(session: Session, role: str) -> list[int]:
    """The ids of the active console users of ``role``."""
    return list(
        session.scalars(
            select(ConsoleUser.id).where(ConsoleUser.role == role, ConsoleUser.active.is_(True))
        )
    )


def create_user(
    session: Session,
    email: str,
    name: str,
    password: str,
    role: str = Role.admin,
    *,
    actor: Actor | None = None,
) -> ConsoleUser:
    """Create a console user (scrypt password hash) with one of :data:`CONSOLE_ROLES`.
    Audited as ``user.create`` by ``actor`` (default: the CLI), with the e-mail masked."""
    role = str(role)
    if role not in CONSOLE_ROLES:
        raise InvalidInput(f"role must be one of: {', '.join(CONSOLE_ROLES)}", field="role")
    email = email.strip().lower()
    if "@" not in email:
        raise InvalidInput("email must contain @", field="email")
    if len(password) < 8:
        raise InvalidInput("password must have at least 8 characters", field="password")
    if session.scalar(select(ConsoleUser).where(ConsoleUser.email == email)):
        raise InvalidInput(f"a user with email {email} already exists", field="email")
    user = ConsoleUser(
        email=email, name=name, password_hash=hash_password(password), role=role, active=True
    )
    session.add(user)
    session.flush()
    after = {"email": user.email, "name": user.name, "role": user.role, "active": user.active}
    audit.record(
        session, actor or Actor.cli(), "user.create", Entity("console_user", user.id), None, after
    )
    return user


_dummy_hash: list[str] = []


def sign_in_candidate(session: Session, email: str) -> tuple[int | None, str]:
    """The id of the active user with ``email`` (None if there is none) and the hash to check
    the password against: a fixed dummy hash for unknown or disabled users, so the same scrypt
    work is done either way (no timing oracle). Throttling: :mod:`sincro.access.signin`."""
    user = session.scalar(select(ConsoleUser).where(ConsoleUser.email == email.strip().lower()))
    if not _dummy_hash:
        _dummy_hash.append(hash_password(secrets.token_urlsafe(16)))
    if user is None or not user.active:
        return None, _dummy_hash[0]
    return user.id, user.password_hash


def sign_in(session: Session, email: str, password: str) -> ConsoleUser:
    """Check a console sign-in (not throttled: the console goes through
    :class:`sincro.access.signin.SignInGuard`)."""
    user_id, stored = sign_in_candidate(session, email)
    if not check_password(password, stored) or user_id is None:
        raise Unauthorized("e-mail ou senha inválidos")
    user = session.get(ConsoleUser, user_id)
    assert user is not None
    return user


def new_session_id() -> str:
    """A random console session id (256 bits)."""
    return secrets.token_urlsafe(32)
