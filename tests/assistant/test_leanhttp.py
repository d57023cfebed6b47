"""The load benchmark's HTTP client (``bench/leanhttp.py``) against a scripted server on
loopback: ``Content-Length`` and chunked bodies, keep-alive reuse, ``Connection: close``, the
pool's bound, a server that hangs up, and a real uvicorn answering our app's JSON."""

from __future__ import annotations

import asyncio
import json

import pytest
from bench.leanhttp import HTTPError, LeanClient

pytestmark = pytest.mark.one_database  # no database at all


class Server:
    """Answers each request by its path: /json (Content-Length), /chunked, /close (then
    closes), /hangup (closes without answering), /slow (0.2 s); counts connections and the
    most requests in flight at once."""

    def __init__(self) -> None:
        self.connections = 0
        self.in_flight = self.most_in_flight = 0
        self.bodies: list[bytes] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                path = lines[0].split(" ")[1]
                headers = dict(line.split(": ", 1) for line in lines[1:] if line)
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                self.bodies.append(body)
                self.in_flight += 1
                self.most_in_flight = max(self.most_in_flight, self.in_flight)
                try:
                    if path == "/slow":
                        await asyncio.sleep(0.2)
                    if path == "/hangup":
                        writer.close()
                        return
                    payload = json.dumps({"path": path, "auth": headers.get("authorization")})
                    data = payload.encode()
                    if path == "/chunked":
                        half = len(data) // 2
                        writer.write(
                            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"
                            + b"%x\r\n%s\r\n%x\r\n%s\r\n0\r\n\r\n"
                            % (half, data[:half], len(data) - half, data[half:])
                        )
                    else:
                        close = b"connection: close\r\n" if path == "/close" else b""
                        writer.write(
                            b"HTTP/1.1 201 Created\r\ncontent-type: application/json\r\n"
                            b"%scontent-length: %d\r\n\r\n%s" % (close, len(data), data)
                        )
                    await writer.drain()
                    if path == "/close":
                        writer.close()
                        return
                finally:
                    self.in_flight -= 1
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()


async def _with_server(test: object) -> None:
    server = Server()
    listener = await asyncio.start_server(server.handle, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    try:
        await test(server, f"http://127.0.0.1:{port}")  # type: ignore[operator]
    finally:
        listener.close()


def test_bodies_keep_alive_and_close() -> None:
    async def test(server: Server, url: str) -> None:
        async with LeanClient(url, headers={"Authorization": "Bearer k"}) as client:
            r = await client.post("/json", json={"text": "olá"})
            assert r.status_code == 201 and r.json() == {"path": "/json", "auth": "Bearer k"}
            assert json.loads(server.bodies[-1]) == {"text": "olá"}
            r = await client.get("/chunked")
            assert r.status_code == 200 and r.json()["path"] == "/chunked"
            assert server.connections == 1  # kept alive across both
            r = await client.get("/close")
            assert r.status_code == 201
            r = await client.get("/json")
            assert r.status_code == 201 and server.connections == 2  # a new one after close
            with pytest.raises(HTTPError):
                await client.get("/hangup")
            r = await client.get("/json")  # the client goes on after a failure
            assert r.status_code == 201

    asyncio.run(_with_server(test))


def test_pool_bound_and_timeout() -> None:
    async def test(server: Server, url: str) -> None:
        async with LeanClient(url, max_connections=3) as client:
            answers = await asyncio.gather(*(client.get("/slow") for _ in range(10)))
            assert [r.status_code for r in answers] == [201] * 10
            assert server.most_in_flight == 3 and server.connections == 3
        async with LeanClient(url, timeout=0.05) as client:
            with pytest.raises(HTTPError, match="no response"):
                await client.get("/slow")
            assert (await client.get("/json")).status_code == 201  # the slot was given back

    asyncio.run(_with_server(test))


def test_idle_connections_are_not_reused_after_idle_seconds() -> None:
    async def test(server: Server, url: str) -> None:
        async with LeanClient(url, idle_seconds=0.05) as client:
            await client.get("/json")
            await asyncio.sleep(0.1)
            await client.get("/json")
            assert server.connections == 2

    asyncio.run(_with_server(test))
