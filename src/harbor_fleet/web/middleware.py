"""Request ids: every HTTP response carries X-Request-ID (the caller's when valid, else a new one),
and every log line of the request carries it too."""

import secrets

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

_HEADER = b"x-request-id"


def _valid(value: bytes) -> bool:
    return 0 < len(value) <= 128 and all(0x20 < byte < 0x7F for byte in value)


class RequestId:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = next((value for name, value in scope["headers"] if name == _HEADER), b"")
        if not _valid(request_id):
            request_id = secrets.token_hex(16).encode()
        scope.setdefault("state", {})["request_id"] = request_id.decode()

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), (_HEADER, request_id)]
            await send(message)

        with structlog.contextvars.bound_contextvars(request_id=request_id.decode()):
            await self.app(scope, receive, send_with_id)
