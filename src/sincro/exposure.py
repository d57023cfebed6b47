"""Who may read the operator's endpoints: ``/metrics`` (``SINCRO_METRICS_ACCESS``) and the API
documentation ``/docs``, ``/redoc``, ``/openapi.json`` (``SINCRO_DOCS_ACCESS``).

``public``: anyone. ``loopback``: only a client on this machine (:func:`client_address`, so
behind a trusted proxy the forwarded client, never the proxy itself). ``key``: any valid API key
(``X-API-Key``; a scraper gets a key of its own). Metrics default to public in the embedded
mode and loopback in production; the docs to public.
"""

from __future__ import annotations

import ipaddress

from fastapi import Request

from sincro.clients import client_address
from sincro.deps import authorize
from sincro.errors import Forbidden


def is_loopback(address: str | None) -> bool:
    """True for 127.0.0.0/8, ::1 and IPv4-mapped loopback; False for anything else."""
    try:
        ip = ipaddress.ip_address((address or "").strip("[]"))
    except ValueError:
        return False
    mapped = getattr(ip, "ipv4_mapped", None)
    return ip.is_loopback or bool(mapped and mapped.is_loopback)


async def require_exposure(request: Request, mode: str, what: str) -> None:
    """Refuse this request unless ``mode`` lets its client read ``what`` (403 or 401)."""
    if mode == "public":
        return
    if mode == "loopback":
        if not is_loopback(client_address(request)):
            raise Forbidden(f"{what} is served only to this machine (loopback)")
        return
    await authorize(request)
