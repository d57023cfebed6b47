"""The SSRF-safe client: hostile URLs refused in every spelling, the checked address pinned,
no redirects, bounded time and bytes, one error for every network failure."""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from sincro import safe_http
from sincro.safe_http import DeliveryFailed, Policy, SafeClient, UnsafeUrl

OPEN = Policy(allow_http=True)
LOOPBACK = Policy(allow_http=True, allowed_hosts=safe_http.normalise_hosts(["127.0.0.1"]))

HOSTILE = [
    "http://127.0.0.1/",
    "http://127.1/",
    "http://0x7f000001/",
    "http://2130706433/",
    "http://017700000001/",
    "http://0177.0.0.1/",
    "http://[::1]/",
    "http://[::ffff:127.0.0.1]/",
    "http://[::ffff:7f00:1]/",
    "http://[0:0:0:0:0:ffff:169.254.169.254]/",
    "http://[64:ff9b::a00:1]/",
    "http://[fe80::1]/",
    "http://[fc00::1]/",
    "http://[::]/",
    "http://localhost/",
    "http://LOCALHOST./",
    "http://169.254.169.254/latest/meta-data/",
    "http://0.0.0.0/",
    "http://0/",
    "http://10.0.0.1/",
    "http://172.16.5.4/",
    "http://192.168.1.1/",
    "http://100.64.0.1/",
    "http://224.0.0.1/",
    "http://240.0.0.1/",
    "http://255.255.255.255/",
    "ftp://93.184.215.14/",
    "file:///etc/passwd",
    "gopher://93.184.215.14/",
    "http://user:pass@93.184.215.14/",
    "http://user@93.184.215.14/",
    "http://93.184.215.14\\@127.0.0.1/",
    "http://93.184.215.14 /",
    "http:///nohost",
    "http://93.184.215.14:99999/",
    "not a url",
]


@pytest.mark.parametrize("url", HOSTILE)
def test_hostile_urls_are_refused(url: str) -> None:
    with pytest.raises(UnsafeUrl) as refused:
        safe_http.check(url, OPEN)
    assert refused.value.field == "url" and refused.value.status_code == 422


def test_https_required_unless_http_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    resolve_to(monkeypatch, "93.184.215.14")
    with pytest.raises(UnsafeUrl, match="https"):
        safe_http.check("http://hooks.example.test/in", Policy())
    assert safe_http.check("https://hooks.example.test/in", Policy()).port == 443


def test_names_are_checked_where_they_resolve(monkeypatch: pytest.MonkeyPatch) -> None:
    resolve_to(monkeypatch, "93.184.215.14", "10.1.2.3")  # one private answer is enough
    with pytest.raises(UnsafeUrl, match="private"):
        safe_http.check("https://hooks.example.test/in", OPEN)
    resolve_to(monkeypatch)
    with pytest.raises(UnsafeUrl, match="does not resolve"):
        safe_http.check("https://hooks.example.test/in", OPEN)


def test_allow_list_and_normalisation(monkeypatch: pytest.MonkeyPatch) -> None:
    target = safe_http.check("HTTP://0x7f000001:8080/a/b?x=1", LOOPBACK)  # 127.0.0.1 allowed
    assert target.url == "http://127.0.0.1:8080/a/b?x=1"
    assert safe_http.check("https://[::1]", Policy(allowed_hosts=frozenset({"::1"}))).path == "/"
    resolve_to(monkeypatch, "10.0.0.7")
    internal = Policy(allowed_hosts=safe_http.normalise_hosts(["Hooks.Internal."]))
    assert safe_http.check("https://hooks.internal/in", internal).host == "hooks.internal"
    assert (
        safe_http.check("https://hooks.internal:443/x", internal).url == "https://hooks.internal/x"
    )


# --- requests to a real local server ---------------------------------------------------------


class Server:
    """A loopback HTTP server whose answer a test chooses; it records every request."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.answer: Callable[[BaseHTTPRequestHandler], None] = _no_content
        self.port = 0
        self.httpd: ThreadingHTTPServer | None = None

    def wrap(self, tls: ssl.SSLContext) -> None:
        """Serve https from now on."""
        assert self.httpd is not None
        self.httpd.socket = tls.wrap_socket(self.httpd.socket, server_side=True)

    def url(self, path: str = "/in", host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"


def _no_content(handler: BaseHTTPRequestHandler) -> None:
    handler.send_response(204)
    handler.end_headers()


@pytest.fixture
def server() -> Iterator[Server]:
    state = Server()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            state.requests.append((self.path, dict(self.headers.items())))
            state.answer(self)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    state.port = httpd.server_address[1]
    state.httpd = httpd
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield state
    httpd.shutdown()
    httpd.server_close()


def resolve_to(monkeypatch: pytest.MonkeyPatch, *addresses: str) -> list[str]:
    """Make every name resolve to ``addresses``; returns the names looked up, in order."""
    looked_up: list[str] = []

    def resolve(host: str, port: int) -> list[str]:
        looked_up.append(host)
        if not addresses:
            raise socket.gaierror("no such name")
        return list(addresses)

    monkeypatch.setattr(safe_http, "resolve_host", resolve)
    return looked_up


def post(policy: Policy, url: str) -> safe_http.Reply:
    client = SafeClient(policy, "test")
    try:
        return client.post(url, b"{}", {"Content-Type": "application/json"})
    finally:
        client.close()


def test_the_checked_address_is_the_one_connected(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    looked_up = resolve_to(monkeypatch, "127.0.0.1")
    policy = Policy(allow_http=True, allowed_hosts=frozenset({"hooks.example.test"}))
    assert post(policy, server.url(host="hooks.example.test")).status == 204
    assert looked_up == ["hooks.example.test"]  # one lookup, and no other resolver was asked
    ((path, headers),) = server.requests
    assert headers["Host"] == f"hooks.example.test:{server.port}" and path == "/in"


def test_a_name_that_turns_private_is_refused_at_request_time(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    resolve_to(monkeypatch, "93.184.215.14")
    safe_http.check(server.url(host="hooks.example.test"), OPEN)  # passes at subscription
    resolve_to(monkeypatch, "127.0.0.1")  # DNS rebinding
    with pytest.raises(DeliveryFailed, match=r"^delivery failed$"):
        post(OPEN, server.url(host="hooks.example.test"))
    assert server.requests == []


def test_https_is_pinned_but_verified_against_the_name(
    server: Server, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a test certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-keyout", key, "-out", cert, "-subj", "/CN=hooks.example.test",
         "-addext", "subjectAltName=DNS:hooks.example.test"],
        check=True, capture_output=True, timeout=30,
    )  # fmt: skip
    names: list[str | None] = []
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert, key)
    tls.sni_callback = lambda sock, name, ctx: names.append(name)  # type: ignore[assignment,misc]
    server.wrap(tls)
    resolve_to(monkeypatch, "127.0.0.1")
    trusted = ssl.create_default_context(cafile=str(cert))
    policy = Policy(allowed_hosts=frozenset({"hooks.example.test", "other.example.test"}))
    client = SafeClient(policy, "test", verify=trusted)
    try:
        url = f"https://hooks.example.test:{server.port}/in"
        assert client.post(url, b"{}", {}).status == 204
        with pytest.raises(DeliveryFailed):  # the certificate does not name this host
            client.post(f"https://other.example.test:{server.port}/in", b"{}", {})
    finally:
        client.close()
    assert names[0] == "hooks.example.test"
    assert server.requests[0][1]["Host"] == f"hooks.example.test:{server.port}"


def test_redirects_are_not_followed(server: Server) -> None:
    def redirect(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(307)
        handler.send_header("Location", server.url("/elsewhere"))
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    server.answer = redirect
    assert post(LOOPBACK, server.url()).status == 307
    assert [path for path, _ in server.requests] == ["/in"]


def test_the_body_read_is_capped(server: Server) -> None:
    def endless(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(500)
        handler.end_headers()  # no length: the body lasts until the connection closes
        try:
            for _ in range(100_000):
                handler.wfile.write(b"token=hunter2hunter2 " * 50)
        except OSError:
            pass  # the client stopped reading, as it should

    server.answer = endless
    started = time.monotonic()
    reply = post(LOOPBACK, server.url())
    assert time.monotonic() - started < 3
    assert reply.status == 500 and len(reply.summary) <= 200
    assert "hunter2" not in reply.summary and "[redacted]" in reply.summary


def test_a_slow_drip_is_cut_off(server: Server) -> None:
    def drip(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.end_headers()
        try:
            for _ in range(100):
                handler.wfile.write(b"x")
                handler.wfile.flush()
                time.sleep(0.1)
        except OSError:
            pass

    server.answer = drip
    policy = Policy(allow_http=True, allowed_hosts=LOOPBACK.allowed_hosts, total_timeout=0.5)
    started = time.monotonic()
    with pytest.raises(DeliveryFailed):
        post(policy, server.url())
    assert time.monotonic() - started < 3


def test_refused_and_garbage_ports_fail_alike() -> None:
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    closed_port = closed.getsockname()[1]
    closed.close()
    garbage = socket.socket()
    garbage.bind(("127.0.0.1", 0))
    garbage.listen()

    def answer_garbage() -> None:
        conn, _ = garbage.accept()
        conn.sendall(b"SSH-2.0-OpenSSH\r\n")
        conn.close()

    threading.Thread(target=answer_garbage, daemon=True).start()
    messages = []
    for port in (closed_port, garbage.getsockname()[1]):
        with pytest.raises(DeliveryFailed) as failed:
            post(LOOPBACK, f"http://127.0.0.1:{port}/in")
        messages.append(str(failed.value))
    garbage.close()
    assert messages == ["delivery failed", "delivery failed"]


def test_summaries_drop_personal_data_and_secrets() -> None:
    body = (
        b'{"error": "bad", "api_key": "abc123", "cpf": "123.456.789-09", '
        b'"auth": "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig", '
        b'"whsec": "whsec_AbC", "digest": "' + b"f" * 64 + b'"}\n' + b"x" * 5000
    )
    summary = safe_http.summarize(body)
    assert len(summary) <= 200 and "\n" not in summary
    for leaked in ("abc123", "123.456.789-09", "eyJhbGci", "whsec_AbC", "f" * 64):
        assert leaked not in summary, leaked
    assert summary.startswith('{"error": "bad"')


def test_literal_addresses_are_not_looked_up(monkeypatch: pytest.MonkeyPatch) -> None:
    looked_up = resolve_to(monkeypatch, "93.184.215.14")  # would hide a loopback literal
    with pytest.raises(UnsafeUrl, match="loopback"):
        safe_http.check("http://0x7f000001/", OPEN)
    assert safe_http.check("http://127.1/", LOOPBACK).host == "127.0.0.1"
    assert looked_up == []
