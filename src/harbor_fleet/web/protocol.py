"""The HTTP connection guard: uvicorn's httptools protocol with the limits a server facing the internet
needs and uvicorn does not set.

- Header bytes per request are capped (MAX_HEADER_BYTES): past it, `431 headers_too_large` and the
  connection closes. (httptools itself would buffer a header of any size.)
- A request must arrive whole, headers and body, within HARBOR_REQUEST_TIMEOUT seconds of its first byte,
  and a new connection must start a request within that time: a client trickling bytes (slow loris) gets
  `408 request_timeout` and the connection closes. An idle keep-alive connection is closed by uvicorn.
- A request that is not valid HTTP gets `400 malformed_request` (uvicorn would answer in plain text).
- Connections are capped (uvicorn's `limit_concurrency`, from HARBOR_MAX_CONNECTIONS): past it a new
  connection is answered `503 overloaded` with Retry-After, in the service's own error body.
"""

import asyncio
import functools
from typing import Any

import msgspec
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from harbor_fleet.settings import load_settings
from harbor_fleet.web.middleware import request_id_of


@functools.cache
def request_timeout() -> float:
    """Read once per process (uvicorn makes the protocol; worker processes inherit the environment)."""
    return load_settings().request_timeout


MAX_HEADER_BYTES = 64 * 1024
# After a refusal the connection reads and drops what the client is still sending for this long before
# closing: closing with unread bytes would make the kernel reset the connection, and the client would
# lose the answer.
LINGER_SECONDS = 2.0

_REASONS = {
    400: b"Bad Request",
    408: b"Request Timeout",
    431: b"Request Header Fields Too Large",
    503: b"Service Unavailable",
}


def error_response(status: int, code: str, message: str, retry_after: int | None = None) -> bytes:
    """A complete HTTP/1.1 response with the error body, closing the connection."""
    body = msgspec.json.encode({"error": {"code": code, "message": message}})
    head = [
        b"HTTP/1.1 %d %s" % (status, _REASONS[status]),
        b"content-type: application/json",
        b"content-length: %d" % len(body),
        b"x-request-id: " + request_id_of(()),
        b"connection: close",
    ]
    if retry_after is not None:
        head.append(b"retry-after: %d" % retry_after)
    return b"\r\n".join(head) + b"\r\n\r\n" + body


def _headers_too_large() -> bytes:
    message = f"the request's headers are larger than {MAX_HEADER_BYTES // 1024} KiB"
    return error_response(431, "headers_too_large", message)


def _head_size(url: bytes, headers: list[tuple[bytes, bytes]]) -> int:
    return len(url) + sum(len(name) + len(value) + 4 for name, value in headers)


class _Refused(Exception):
    """Raised in a parser callback to stop parsing a request that was refused."""


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Our own check answers in the service's error body; uvicorn's would answer in plain text.
        self._max_connections = self.limit_concurrency
        self.limit_concurrency = None
        self._buffered = 0  # bytes of a request head still incomplete after earlier chunks
        self._chunk = 0  # bytes of the chunk being parsed
        self._in_headers = True
        self._started = False
        self._refused = False
        self._receiving = True  # a request (or, on a new connection, the first one) is awaited
        self._receiving_since = 0.0
        self._deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if self._max_connections is not None and len(self.connections) > self._max_connections:
            self._refuse(error_response(503, "overloaded", "the server holds as many connections as it may", 1))
            return
        self._receiving_since = self.loop.time()
        self._deadline = self.loop.call_later(request_timeout(), self._check_deadline)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return  # lingering: dropped unread
        self._chunk = len(data)
        began_in_head = self._in_headers
        super().data_received(data)
        # Only a chunk that began inside a head is counted: one that ends a pipelined request's body and
        # starts the next head is not (the next chunk is), so a large body never counts as a head.
        if began_in_head and self._in_headers and not self._refused and not self.transport.is_closing():
            # The parser buffers a header until it is whole: while a request is still in its headers,
            # count what arrived, so the buffer never grows more than one chunk past the limit.
            self._buffered += len(data)
            if self._buffered > MAX_HEADER_BYTES:
                self._refuse(_headers_too_large())

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._started = True
        self._in_headers = True
        self._buffered = 0
        self._receiving = True
        self._receiving_since = self.loop.time()

    def on_headers_complete(self) -> None:
        self._in_headers = False
        # Summed only when the head could be that large: this runs for every request.
        if self._buffered + self._chunk > MAX_HEADER_BYTES and _head_size(self.url, self.headers) > MAX_HEADER_BYTES:
            self._refuse(_headers_too_large())
            raise _Refused  # stops the parser: no app task for this request
        super().on_headers_complete()

    def send_400_response(self, msg: str) -> None:
        """uvicorn's answer to what is not HTTP, in the service's error body (not after a refusal of ours)."""
        if not self._refused:
            self._refuse(error_response(400, "malformed_request", "the request is not valid HTTP/1.1"))

    def on_message_complete(self) -> None:
        self._receiving = False
        super().on_message_complete()

    def handle_websocket_upgrade(self) -> None:
        self._disarm()
        super().handle_websocket_upgrade()

    def _check_deadline(self) -> None:
        """One timer per connection, set again only when it fires: a request costs a clock read, not a
        timer of its own."""
        self._deadline = None
        if self._refused or self.transport.is_closing():
            return
        timeout = request_timeout()
        waited = self.loop.time() - self._receiving_since if self._receiving else 0.0
        if waited >= timeout:
            self._too_slow()
            return
        self._deadline = self.loop.call_later(timeout - waited, self._check_deadline)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _too_slow(self) -> None:
        answering = not self._in_headers and self.cycle is not None and self.cycle.response_started
        if not self._started or answering:
            self.transport.close()  # nothing asked yet, or an answer under way: just hang up
            return
        message = f"the request did not arrive within {request_timeout():g} s"
        self._refuse(error_response(408, "request_timeout", message))

    def _refuse(self, response: bytes) -> None:
        self._disarm()
        if self.cycle is not None and not self.cycle.response_complete:
            # As if the client had gone: the app reads a disconnect, and its answer, if any, is dropped.
            self.cycle.keep_alive = False
            self.cycle.disconnected = True
            self.cycle.message_event.set()
        if self._refused or self.transport.is_closing():
            return
        self._refused = True
        self.transport.write(response)
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self.loop.call_later(LINGER_SECONDS, self.transport.close)
