"""Limits at the connection, on a real server: oversized headers (431), requests that trickle in
(408), idle connections, the connection cap (503), and a client that leaves mid-body (nothing stored)."""

import asyncio
import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import websockets

from conftest import Server, cli_json, harbor_env, signed
from helpers import eventually

REQUEST_TIMEOUT = 1.0


def start(database_url: str, tmp_path: Path, servers: list[Server], **settings: str) -> Server:
    env = harbor_env(database_url=database_url, **settings)
    cli_json(env, "fleet", "create", "f1")
    started = Server(env, tmp_path / "server.log").start()
    servers.append(started)
    return started


@pytest.fixture
def server(database_url: str, tmp_path: Path, servers: list[Server]) -> Iterator[Server]:
    yield start(database_url, tmp_path, servers, request_timeout=str(REQUEST_TIMEOUT))


def connect(server: Server) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    return sock


def answer(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """Read one response until the server closes the connection (every refusal closes it)."""
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *lines = head.decode().split("\r\n")
    headers = {name.lower(): value.strip() for name, value in (line.split(":", 1) for line in lines)}
    return int(status_line.split()[1]), headers, body


def assert_no_errors_logged(server: Server) -> None:
    """The server handled it as designed: nothing unhandled reached its log."""
    log = server.log_path.read_text()
    assert "Traceback" not in log and "unhandled error" not in log and '"level": "error"' not in log


def signed_ingest(server: Server) -> tuple[bytes, bytes]:
    """The head and body of a signed single-fix ingest request, to send in pieces."""
    key = cli_json(server.env, "key", "create", "--fleet", "f1")
    body = json.dumps({"fixes": [{"vehicle_id": "v1", "lat": 1, "lng": 2, "recorded_at": "2026-11-27T00:00:00Z"}]})
    head = "POST /api/v1/fleets/f1/positions HTTP/1.1\r\nHost: x\r\n"
    head += "".join(f"{name}: {value}\r\n" for name, value in signed(key, body.encode()).items())
    head += f"Content-Length: {len(body)}\r\n\r\n"
    return head.encode(), body.encode()


def test_headers_over_64_kib_get_431_with_the_error_body(server: Server) -> None:
    for size in (70_000, 5_000_000):
        with connect(server) as sock:
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * size + b"\r\n\r\n")
            status, headers, body = answer(sock)  # refused mid-send, the answer still arrives
        assert status == 431 and headers["connection"] == "close" and headers["x-request-id"]
        assert json.loads(body)["error"]["code"] == "headers_too_large"
    with connect(server) as sock:  # many small headers count too
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-%d: v\r\n" % i for i in range(10_000)))
        sock.sendall(b"\r\n")
        assert answer(sock)[0] == 431


def test_a_request_that_trickles_in_gets_408_and_stores_nothing(server: Server, database_url: str) -> None:
    head, body = signed_ingest(server)
    with connect(server) as slow_body, connect(server) as slow_headers:
        slow_body.sendall(head + body[:10])  # and then nothing more
        slow_headers.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nX-One: ")
        started = time.monotonic()
        for sock in (slow_body, slow_headers):
            status, _, answer_body = answer(sock)
            assert status == 408 and json.loads(answer_body)["error"]["code"] == "request_timeout"
        assert time.monotonic() - started < 10 * REQUEST_TIMEOUT  # the deadline, not the socket timeout
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT count(*) FROM fixes").fetchone() == (0,)
    assert_no_errors_logged(server)


def test_a_connection_that_never_asks_is_closed(server: Server) -> None:
    with connect(server) as sock:
        assert sock.recv(100) == b""  # closed by the server, without an answer to nothing


def health(server: Server) -> int:
    with connect(server) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        return answer(sock)[0]


def test_past_the_connection_cap_new_connections_get_503(
    database_url: str, tmp_path: Path, servers: list[Server]
) -> None:
    server = start(database_url, tmp_path, servers, max_connections="4")
    held = [connect(server) for _ in range(4)]
    try:
        for sock in held:  # each is in use: a request whose body has not come yet
            sock.sendall(b"POST /api/v1/session HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n")
        with connect(server) as extra:
            status, headers, body = answer(extra)
        assert status == 503 and headers["retry-after"] == "1"
        assert json.loads(body)["error"]["code"] == "overloaded"
        held.pop().close()
        eventually(lambda: health(server) == 200, timeout=10)  # room again once one is gone
    finally:
        for sock in held:
            sock.close()


def test_a_client_leaving_mid_body_stores_nothing(server: Server, database_url: str) -> None:
    head, body = signed_ingest(server)
    with connect(server) as sock:
        sock.sendall(head + body[:-5])
    assert health(server) == 200  # the server is still fine
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT count(*) FROM fixes").fetchone() == (0,)
    assert_no_errors_logged(server)


def test_a_large_message_from_a_live_client_closes_its_stream_with_1009(server: Server) -> None:
    token = cli_json(server.env, "token", "create", "--fleet", "f1")

    async def flood() -> int | None:
        url = f"ws://127.0.0.1:{server.port}/api/v1/fleets/f1/live"
        headers = {"Authorization": f"Bearer {token['token']}"}
        async with websockets.connect(url, additional_headers=headers, max_size=None) as ws:
            assert json.loads(await ws.recv())["type"] == "snapshot"
            await ws.send("x" * 1_000_000)
            with pytest.raises(websockets.ConnectionClosed) as closed:
                async with asyncio.timeout(10):
                    while True:
                        await ws.recv()
            return closed.value.rcvd.code if closed.value.rcvd else None

    assert asyncio.run(flood()) == 1009


def test_what_is_not_http_gets_400_in_the_error_body(server: Server) -> None:
    with connect(server) as sock:
        sock.sendall(b"HELLO THERE\r\n\r\n")
        status, headers, body = answer(sock)
    assert status == 400 and headers["x-request-id"]
    assert json.loads(body)["error"]["code"] == "malformed_request"


def read_response(sock: socket.socket, buffer: bytearray) -> tuple[int, bytes]:
    """One response (with Content-Length) from a keep-alive connection; `buffer` keeps what follows it."""
    while b"\r\n\r\n" not in buffer:
        chunk = sock.recv(65536)
        assert chunk, "closed before a response"
        buffer += chunk
    head, _, rest = bytes(buffer).partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    length = next(int(line.split(":", 1)[1]) for line in lines if line.lower().startswith("content-length:"))
    while len(rest) < length:
        rest += sock.recv(65536)
    buffer[:] = rest[length:]
    return int(lines[0].split()[1]), rest[:length]


def test_a_slow_head_on_a_reused_connection_gets_408(server: Server) -> None:
    with connect(server) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        assert read_response(sock, bytearray())[0] == 200
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        status, _, body = answer(sock)
    assert status == 408 and json.loads(body)["error"]["code"] == "request_timeout"
