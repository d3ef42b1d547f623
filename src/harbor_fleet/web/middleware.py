"""Request ids: every HTTP response carries X-Request-ID (the caller's when valid, else a new one),
and every log line of the request carries it too. Request durations for the routes the Starlette app
serves (the hot paths time themselves in fast.py)."""

import itertools
import secrets
import time
from collections.abc import Iterable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from harbor_fleet.logs import REQUEST_ID
from harbor_fleet.metrics import http_timer

_HEADER = b"x-request-id"
# Unique without a system call per request: a random prefix per process, then a counter.
_PREFIX = secrets.token_hex(8)
_COUNTER = itertools.count(1)


def _valid(value: bytes) -> bool:
    return 0 < len(value) <= 128 and all(0x20 <= byte < 0x7F for byte in value)


def request_id_of(headers: Iterable[tuple[bytes, bytes]]) -> bytes:
    """The caller's X-Request-ID when it is up to 128 printable ASCII characters, else a new one."""
    given = next((value for name, value in headers if name == _HEADER), b"")
    return given if _valid(given) else f"{_PREFIX}-{next(_COUNTER):x}".encode()


UNMATCHED = "unmatched"  # the route label of a path no route took (never the raw path: unbounded series)


class RequestTracking:
    """Around every request the Starlette app serves: its id (on the response and on every log line) and
    its duration, labelled by route template and status (the hot paths do both in fast.py)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = request_id_of(scope["headers"])
        REQUEST_ID.set(request_id.decode())
        status = 500  # unless an answer starts

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                message["headers"] = [*message.get("headers", ()), (_HEADER, request_id)]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            route = getattr(scope.get("route"), "path", None) or UNMATCHED
            http_timer(route, scope["method"], status).observe(time.perf_counter() - started)
