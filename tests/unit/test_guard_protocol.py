"""The connection guard fed exact reads (no network, so which bytes share a read is up to the test):
a read that ends one request's large body and starts the next request's head is not a large head."""

import asyncio
import re
from typing import Any

from uvicorn.config import Config
from uvicorn.server import ServerState

from harbor_fleet.web.protocol import GuardedHttpToolsProtocol


class Transport(asyncio.Transport):
    """Collects what the protocol writes; `answered` is set at the second response."""

    def __init__(self) -> None:
        super().__init__()
        self.written = b""
        self.closed = False
        self.answered = asyncio.Event()

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written += bytes(data)
        if self.written.count(b"HTTP/1.1 ") >= 2:
            self.answered.set()

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 50000), "sockname": ("127.0.0.1", 8000)}.get(name, default)

    def pause_reading(self) -> None: ...

    def resume_reading(self) -> None: ...


async def app(scope: Any, receive: Any, send: Any) -> None:
    """Reads the whole body, then answers with its length."""
    size, more = 0, True
    while more:
        message = await receive()
        size, more = size + len(message.get("body", b"")), message.get("more_body", False)
    body = str(size).encode()
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"%d" % len(body))]})
    await send({"type": "http.response.body", "body": body})


async def test_a_large_body_then_a_pipelined_request_is_not_mistaken_for_a_large_head() -> None:
    config = Config(app=app, lifespan="off", access_log=False, limit_concurrency=100)
    config.load()
    protocol = GuardedHttpToolsProtocol(config=config, server_state=ServerState(), app_state={})
    transport = Transport()
    protocol.connection_made(transport)
    body = b"x" * 100_000
    try:
        protocol.data_received(b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body))
        protocol.data_received(body + b"GET /health HTTP/1.1\r\nHo")  # one read: a body's end, a head's start
        protocol.data_received(b"st: x\r\n\r\n")
        await asyncio.wait_for(transport.answered.wait(), 5)
    finally:
        protocol.connection_lost(None)
    assert b" 431 " not in transport.written
    statuses = re.findall(rb"HTTP/1\.1 (\d{3}) ", transport.written)
    assert statuses == [b"200", b"200"]  # both answered, the upload's body counted as a body
    assert b"\r\n\r\n100000" in transport.written
