"""Who is on the other end of a request: the client's address and scheme, believed from
``X-Forwarded-For`` / ``X-Forwarded-Proto`` only when the peer is a trusted proxy.

``SINCRO_TRUSTED_PROXIES`` lists addresses or CIDRs (default: none, so the headers are never
believed and anyone can send them). Behind a chain of trusted proxies the client is the
right-most ``X-Forwarded-For`` entry that is not itself a trusted proxy. Every per-address
limit and the audit log call :func:`client_address`; the console's ``Secure`` cookie follows
:func:`client_scheme`.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=8)
def trusted_networks(spec: tuple[str, ...]) -> tuple[Network, ...]:
    """The networks of a trusted-proxies setting (an address is a one-address network)."""
    return tuple(ipaddress.ip_network(item.strip(), strict=False) for item in spec if item.strip())


def is_trusted(address: str | None, networks: Iterable[Network]) -> bool:
    """True when ``address`` is inside one of ``networks`` (False for anything unparsable)."""
    if not address:
        return False
    try:
        ip = ipaddress.ip_address(address.strip().strip("[]"))
    except ValueError:
        return False
    return any(ip.version == net.version and ip in net for net in networks)


def _peer(scope: Mapping[str, Any]) -> str | None:
    client = scope.get("client")
    return str(client[0]) if client else None


def _header(scope: Mapping[str, Any], name: bytes) -> str | None:
    for key, value in scope.get("headers") or ():
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return None


def _networks(scope: Mapping[str, Any]) -> tuple[Network, ...]:
    app = scope.get("app")
    state = getattr(getattr(app, "state", None), "sincro", None)
    spec = getattr(getattr(state, "settings", None), "trusted_proxies", ())
    return trusted_networks(tuple(spec))


def scope_client_address(scope: Mapping[str, Any]) -> str | None:
    """:func:`client_address` for an ASGI scope."""
    peer = _peer(scope)
    networks = _networks(scope)
    if not is_trusted(peer, networks):
        return peer
    forwarded = _header(scope, b"x-forwarded-for")
    hops = [hop.strip() for hop in (forwarded or "").split(",") if hop.strip()]
    for hop in reversed(hops):
        if not is_trusted(hop, networks):
            return hop[:64]
    return hops[0][:64] if hops else peer


def client_address(request: Any) -> str | None:
    """The client's address of a Starlette request (or any object with an ASGI ``scope``)."""
    return scope_client_address(request.scope)


def client_scheme(scope: Mapping[str, Any]) -> str:
    """``https`` or ``http`` as the client sees it: the forwarded proto from a trusted proxy,
    else the connection's own scheme."""
    scheme = str(scope.get("scheme", "http"))
    if is_trusted(_peer(scope), _networks(scope)):
        forwarded = (_header(scope, b"x-forwarded-proto") or "").split(",")[0].strip().lower()
        if forwarded in ("http", "https"):
            return forwarded
    return scheme
