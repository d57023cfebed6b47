"""A lean HTTP/1.1 keep-alive client for the load benchmarks: JSON in, bytes out, nothing else.

httpx costs the generator about as much CPU per request as the server spends answering it (8 ms
per request measured in the assistant's load run, its connection pool's bookkeeping most of
it), so a generator built on it saturates a small machine before the server does. This client
does only what a benchmark against our own api needs:

* one ``asyncio.Protocol`` per connection, the response parsed by ``httptools`` (the C parser
  uvicorn itself uses: ``Content-Length`` and chunked bodies both handled);
* a bounded pool (``max_connections``): idle connections are reused most-recent first, a
  request waits for a free connection in arrival order;
* a connection is dropped when the server says ``Connection: close``, on any error, and once
  it has been idle ``idle_seconds`` (3 s: under uvicorn's keep-alive timeout, 5 s by default
  and 30 s in ``sincro api``); nothing is
  retried: a failed request is the caller's error to count;
* ``post(path, json=...)`` / ``get(path)`` return a :class:`Response` with ``status_code``,
  ``headers`` (lower-case names), ``content`` and ``json()`` — the part of httpx's
  interface the generator uses, so the same generator code runs over httpx's in-process ASGI
  transport in tests.

Bodies are encoded with orjson. No TLS, no redirects, no cookies, no compression, no proxies.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any
from urllib.parse import urlsplit

import httptools
import orjson


class HTTPError(Exception):
    """The request failed below HTTP (connect, reset, malformed response, timeout)."""


class Response:
    __slots__ = ("content", "headers", "status_code")

    def __init__(self, status_code: int, headers: dict[str, str], content: bytes) -> None:
        self.status_code, self.headers, self.content = status_code, headers, content

    def json(self) -> Any:
        return orjson.loads(self.content)


class _Connection(asyncio.Protocol):
    """One keep-alive connection; one request at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.waiter: asyncio.Future[Response] | None = None
        self.closed = False
        self.idle_since = 0.0
        self._headers: dict[str, str] = {}
        self._body: list[bytes] = []
        self._name = b""

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(HTTPError(f"malformed response: {exc}"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._fail(HTTPError(f"connection closed: {exc}" if exc else "connection closed"))

    # httptools callbacks
    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        response = Response(self.parser.get_status_code(), self._headers, b"".join(self._body))
        if not self.parser.should_keep_alive():
            self.close()
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(response)

    def _fail(self, exc: HTTPError) -> None:
        if not self.closed:
            self.close()
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def send(self, request: bytes) -> asyncio.Future[Response]:
        assert self.transport is not None and self.waiter is None
        self._headers, self._body = {}, []
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(request)
        return self.waiter


class LeanClient:
    """``LeanClient(base_url, headers=..., max_connections=...)``; use as ``async with``."""

    def __init__(
        self,
        base_url: str,
        *,
        headers: dict[str, str] | None = None,
        max_connections: int = 100,
        timeout: float = 60.0,
        idle_seconds: float = 3.0,
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"base_url must be http://host[:port], not {base_url!r}")
        self.host, self.port = parts.hostname, parts.port or 80
        self.prefix = parts.path.rstrip("/")
        self.timeout, self.idle_seconds = timeout, idle_seconds
        self.max_connections = max_connections
        fixed = {"host": parts.netloc, "connection": "keep-alive"} | {
            k.lower(): v for k, v in (headers or {}).items()
        }
        self._fixed = "".join(f"{k}: {v}\r\n" for k, v in fixed.items()).encode("latin-1")
        self._idle: list[_Connection] = []  # most recently used last
        # one slot per request in flight; a connection is opened only when none is idle, so
        # there are never more than ``max_connections`` (asyncio's semaphore is first come,
        # first served)
        self._slots = asyncio.Semaphore(max_connections)

    async def __aenter__(self) -> LeanClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        for conn in self._idle:
            conn.close()
        self._idle.clear()

    async def post(self, path: str, *, json: Any) -> Response:
        body = orjson.dumps(json)
        return await self.request(
            b"POST", path, body, b"content-type: application/json\r\n"
        )  # fmt: skip

    async def get(self, path: str) -> Response:
        return await self.request(b"GET", path, b"", b"")

    async def request(self, method: bytes, path: str, body: bytes, extra: bytes) -> Response:
        head = b"%s %s HTTP/1.1\r\n%s%scontent-length: %d\r\n\r\n" % (
            method, (self.prefix + path).encode("ascii"), self._fixed, extra, len(body)
        )  # fmt: skip
        try:
            async with asyncio.timeout(self.timeout), self._slots:
                return await self._exchange(head + body)
        except TimeoutError as exc:
            raise HTTPError(f"no response within {self.timeout} s") from exc

    async def _exchange(self, data: bytes) -> Response:
        conn = self._connection() or await self._connect()
        try:
            response = await conn.send(data)
        except BaseException:
            conn.close()  # a response may still be on its way: never reuse it
            raise
        if not conn.closed:
            conn.idle_since = time.monotonic()
            self._idle.append(conn)
        return response

    def _connection(self) -> _Connection | None:
        """The most recently used idle connection still open and idle for less than
        ``idle_seconds`` (the server closes one idle for long: a request must not race that close,
        since a request lost that way cannot be told from one the server took, and is not
        retried)."""
        limit = time.monotonic() - self.idle_seconds
        while self._idle and (self._idle[0].closed or self._idle[0].idle_since < limit):
            self._idle.pop(0).close()  # the oldest first
        while self._idle:
            conn = self._idle.pop()
            if not conn.closed:
                return conn
        return None

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        try:
            _, conn = await loop.create_connection(_Connection, self.host, self.port)
        except OSError as exc:
            raise HTTPError(f"connect: {exc}") from exc
        return conn
