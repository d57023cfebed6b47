"""Webhook signing secrets: derived, never stored.

A subscription keeps a random salt; its secret is ``whsec_`` + base64url(HMAC-SHA256(the
installation's secret key, salt)). The database alone (a dump, a backup, a read-only SQL
injection) cannot sign a delivery, nothing needs decrypting, and no new dependency is needed.
The price: changing ``SINCRO_SECRET_KEY`` changes every webhook secret, so rotate each
subscription's secret after changing it (``POST /v1/webhooks/{id}/rotate-secret``).

Rotation keeps the previous salt until ``previous_secret_until``: deliveries in that window
carry a signature under each secret. Subscriptions made before migration 0012 keep their old
plaintext secret (``legacy_secret``) until they are rotated; it then serves as the previous
secret during the overlap and is deleted with it.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass

SECRET_PREFIX = "whsec_"
DERIVATION_LABEL = b"sincro.webhook-secret.v1:"


def new_salt() -> str:
    """A random per-subscription salt (256 bits)."""
    return secrets.token_urlsafe(32)


def derive(secret_key: str, salt: str) -> str:
    """The signing secret of ``salt`` under the installation's ``secret_key``."""
    mac = hmac.new(secret_key.encode(), DERIVATION_LABEL + salt.encode(), hashlib.sha256)
    return SECRET_PREFIX + base64.urlsafe_b64encode(mac.digest()).decode().rstrip("=")


@dataclass(frozen=True, slots=True)
class SecretRef:
    """What a subscription stores about its secrets (salts, never secrets, since 0012)."""

    salt: str | None
    previous_salt: str | None
    previous_until: dt.datetime | None
    legacy: str | None

    def signing(self, secret_key: str, now: dt.datetime) -> tuple[str, ...]:
        """The secrets to sign with now: the current one, then the previous one during the
        overlap window."""
        current = derive(secret_key, self.salt) if self.salt else self.legacy
        keys = [current] if current else []
        if self.previous_until is not None and now < self.previous_until:
            if self.previous_salt:
                keys.append(derive(secret_key, self.previous_salt))
            elif self.salt and self.legacy:
                keys.append(self.legacy)
        return tuple(keys)
