"""An SSRF-safe outbound HTTP client for URLs that came from outside (webhooks, later the
assistant's channel adapters).

A URL is parsed once, here, and never handed to another parser: the request is rebuilt from
the parsed parts and sent to the *address that was checked*. The rules (:class:`Policy`):

- http(s) only; https unless ``allow_http``; no credentials (``user:pass@``) in the URL;
- every address the host resolves to must be public: private, loopback, link-local,
  multicast, reserved, unspecified, shared (CGNAT), IPv4-mapped/NAT64/6to4 IPv6 targets are
  refused in every spelling (``127.1``, ``0x7f000001``, ``2130706433``, ``017700000001``,
  ``[::ffff:127.0.0.1]``, ``localhost``, names that resolve there), unless the host is in the
  explicit ``allowed_hosts`` list (a name or an address, compared after normalisation);
- the check runs at subscription (:func:`check`) and again at each request
  (:meth:`SafeClient.post`), on the resolved address; the connection goes to that address
  (the ``Host`` header and TLS SNI/certificate check keep the name), so a second DNS answer
  cannot redirect it; redirects are not followed; connect/read/total time and the bytes read
  of a response are bounded; no keep-alive (a pooled TLS connection is keyed by address and
  could otherwise serve another name on the same address).

A caller sees one error for every failure before an HTTP status arrives (refused, closed,
timed out, unsafe): :class:`DeliveryFailed` ("delivery failed"); the detail goes to the log
only, so the client cannot be used to map a network.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import socket
import ssl
import time
from dataclasses import dataclass, replace
from urllib.parse import SplitResult, urlsplit

import httpx

from sincro.errors import InvalidInput
from sincro.text_pt import scrub

log = logging.getLogger("sincro.safe_http")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
DEFAULT_PORTS = {"http": 80, "https": 443}
# translation and tunnelling prefixes that can reach an IPv4 host behind a public-looking v6
TUNNELS = tuple(ipaddress.IPv6Network(n) for n in ("64:ff9b::/96", "64:ff9b:1::/48", "2002::/16"))
NUMERIC_HOST = re.compile(r"[0-9a-fx.]+")
FAILED = "delivery failed"
SUMMARY_LIMIT = 200
SECRET_PATTERNS = (
    re.compile(r"whsec_[\w-]+"),
    re.compile(r"(?i)\bbearer\s+[\w.~+/=-]+"),
    re.compile(
        r"(?i)\b(token|secret|password|passwd|pwd|api[_-]?key|access[_-]?key|authorization|"
        r"signature|session)(\"?\s*[:=]\s*\"?)[^\s\"',;&]+"
    ),
    re.compile(r"\b[A-Za-z0-9_\-+/]{32,}={0,2}"),  # long keys, hex digests, JWT parts
)
REDACTED = "[redacted]"


class UnsafeUrl(InvalidInput):
    """A URL the policy refuses (422 naming the field given, ``url`` by default)."""


class DeliveryFailed(Exception):
    """No HTTP answer: unsafe, unreachable, refused, reset or timed out (one message for all)."""

    def __init__(self) -> None:
        super().__init__(FAILED)


@dataclass(frozen=True, slots=True)
class Policy:
    """What a caller may reach and how long/much it waits and reads."""

    allow_http: bool = False
    allowed_hosts: frozenset[str] = frozenset()
    connect_timeout: float = 5.0
    read_timeout: float = 10.0
    total_timeout: float = 20.0
    max_body_bytes: int = 64 * 1024

    def allows(self, host: str) -> bool:
        return host in self.allowed_hosts


def normalise_hosts(hosts: list[str]) -> frozenset[str]:
    """Allow-list entries in the form :func:`check` compares (``127.1`` → ``127.0.0.1``)."""
    return frozenset(_canonical_host(h.strip().strip("[]").lower().rstrip(".")) for h in hosts)


@dataclass(frozen=True, slots=True)
class Target:
    """A checked URL: its normalised text (no credentials) and the parts a request needs."""

    url: str
    scheme: str
    host: str
    port: int
    path: str  # path and query, never empty

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if DEFAULT_PORTS[self.scheme] == self.port else f"{host}:{self.port}"


@dataclass(frozen=True, slots=True)
class Reply:
    """An HTTP answer: its status and the first bytes of its body, summarised."""

    status: int
    summary: str


# --- checking --------------------------------------------------------------------------------


def parse(url: str, policy: Policy, field: str = "url") -> Target:
    """The static checks (scheme, credentials, syntax, literal addresses); no DNS."""
    if any(ord(c) < 33 or c == "\\" for c in url):
        raise UnsafeUrl("URL contains spaces, control characters or backslashes", field=field)
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UnsafeUrl(f"malformed URL: {exc}", field=field) from None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise UnsafeUrl("only http and https URLs are accepted", field=field)
    if "@" in parts.netloc:
        raise UnsafeUrl("credentials in the URL are not accepted", field=field)
    host = _canonical_host(_host_of(parts, field))
    if scheme == "http" and not policy.allow_http:
        raise UnsafeUrl("https is required (SINCRO_FEED_WEBHOOK_ALLOW_HTTP)", field=field)
    literal = _ip(host)
    if literal is not None and not policy.allows(host):
        _refuse_private(literal, field)
    target = Target("", scheme, host, port or DEFAULT_PORTS[scheme], _path(parts))
    return replace(target, url=f"{scheme}://{target.host_header}{target.path}")


def check(url: str, policy: Policy, field: str = "url") -> Target:
    """Every check, including where the name resolves now: for URLs given at subscription."""
    target = parse(url, policy, field)
    pin(target, policy, field)
    return target


def pin(target: Target, policy: Policy, field: str = "url") -> IPAddress:
    """Resolve ``target`` once and check *every* address; returns the one to connect to."""
    addresses = _addresses(target, field)
    if not policy.allows(target.host):
        for address in addresses:
            if not policy.allows(str(address)):
                _refuse_private(address, field)
    return addresses[0]


def _addresses(target: Target, field: str) -> list[IPAddress]:
    """The address of a literal host, or what the name resolves to (never empty)."""
    literal = _ip(target.host)
    if literal is not None:
        return [literal]
    try:
        addresses = [ipaddress.ip_address(a) for a in resolve_host(target.host, target.port)]
    except (OSError, UnicodeError, ValueError):
        addresses = []
    if not addresses:
        raise UnsafeUrl(f"host {target.host!r} does not resolve", field=field)
    return addresses


def resolve_host(host: str, port: int) -> list[str]:
    """The addresses ``host`` resolves to (the one DNS lookup of a request; a test seam)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]).split("%")[0] for info in infos))


def forbidden_reason(address: IPAddress) -> str | None:
    """Why ``address`` may not be reached from outside input (None: it is public)."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return "an IPv4-mapped IPv6 address"
        if any(address in net for net in TUNNELS):
            return "an IPv6 translation or tunnel address"
    for name in ("loopback", "unspecified", "link_local", "multicast", "private", "reserved"):
        if getattr(address, f"is_{name}"):
            return f"a {name.replace('_', '-')} address"
    return None if address.is_global else "not a public address"


def _refuse_private(address: IPAddress, field: str) -> None:
    reason = forbidden_reason(address)
    if reason is not None:
        raise UnsafeUrl(f"the URL points to {reason} ({address})", field=field)


def _host_of(parts: SplitResult, field: str) -> str:
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise UnsafeUrl("the URL has no host", field=field)
    try:
        return host.encode("idna").decode("ascii").lower() if not host.isascii() else host
    except UnicodeError:
        raise UnsafeUrl("the URL's host is not a valid name", field=field) from None


def _canonical_host(host: str) -> str:
    """An address in its one canonical spelling (``0x7f000001`` → ``127.0.0.1``); names as
    they are."""
    address = _ip(host)
    return host if address is None else str(address)


def _ip(host: str) -> IPAddress | None:
    """``host`` as an address if it is one in any spelling ``inet_aton`` or IPv6 accepts."""
    try:
        return ipaddress.ip_address(host.split("%")[0])
    except ValueError:
        pass
    if NUMERIC_HOST.fullmatch(host):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


def _path(parts: SplitResult) -> str:
    return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


# --- requests --------------------------------------------------------------------------------


class SafeClient:
    """POSTs to checked, pinned addresses; see the module docstring for the rules."""

    def __init__(
        self, policy: Policy, user_agent: str, verify: ssl.SSLContext | bool = True
    ) -> None:
        """``verify``: the system's CAs by default (tests pass their own)."""
        self.policy = policy
        timeout = httpx.Timeout(policy.read_timeout, connect=policy.connect_timeout)
        self._client = httpx.Client(
            timeout=timeout,
            verify=verify,
            follow_redirects=False,
            trust_env=False,  # no proxy from the environment: it would re-resolve the name
            limits=httpx.Limits(max_keepalive_connections=0),
            headers={"User-Agent": user_agent, "Accept-Encoding": "identity"},
        )

    def close(self) -> None:
        self._client.close()

    def post(self, url: str, content: bytes, headers: dict[str, str]) -> Reply:
        """POST ``content``; the status and a short, scrubbed summary of the body. Raises
        :class:`DeliveryFailed` for anything that is not an HTTP answer (details logged)."""
        started = time.monotonic()
        try:
            target = parse(url, self.policy)
            address = pin(target, self.policy)
            with self._client.stream(
                "POST",
                _pinned_url(target, address),
                content=content,
                headers={**headers, "Host": target.host_header},
                extensions=_tls_name(target),
            ) as resp:
                head = _read_head(resp, self.policy, started)
                return Reply(resp.status_code, summarize(head))
        except Exception as exc:  # whatever it was, the caller learns only that it failed
            log.warning("outbound request failed", extra={"url": url, "reason": repr(exc)})
            raise DeliveryFailed() from None


def _pinned_url(target: Target, address: IPAddress) -> str:
    host = f"[{address}]" if address.version == 6 else str(address)
    return f"{target.scheme}://{host}:{target.port}{target.path}"


def _tls_name(target: Target) -> dict[str, object]:
    """Present and verify the name, not the address we connect to."""
    if target.scheme != "https" or _ip(target.host) is not None:
        return {}
    return {"sni_hostname": target.host}


def _read_head(resp: httpx.Response, policy: Policy, started: float) -> bytes:
    """At most ``max_body_bytes`` of the raw body, within the total time budget."""
    chunk = b""
    for part in resp.iter_raw():
        chunk += part
        if len(chunk) >= policy.max_body_bytes:
            break
        if time.monotonic() - started > policy.total_timeout:
            raise TimeoutError("response body too slow")
    return chunk[: policy.max_body_bytes]


def summarize(body: bytes, limit: int = SUMMARY_LIMIT) -> str:
    """A body fit for a log a person reads: text, one line, personal data and anything that
    looks like a secret or token removed, at most ``limit`` characters."""
    text = " ".join(body[: limit * 4].decode("utf-8", "replace").split())
    text = scrub(text)
    for pattern in SECRET_PATTERNS:
        text = pattern.sub(_redact, text)
    return text[:limit]


def _redact(match: re.Match[str]) -> str:
    if match.re.groups >= 2:
        return f"{match.group(1)}{match.group(2)}{REDACTED}"
    return REDACTED
