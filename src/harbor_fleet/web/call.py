"""What an API handler sees of a request, and what it answers: plain data, no framework objects, so
the same handler serves the direct ASGI path (fast.py) and the Starlette route (for HEAD and tests)."""

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import msgspec

from harbor_fleet.service.errors import BodyTooLarge, ServiceError

MAX_BODY_BYTES = 1024 * 1024
_encode = msgspec.json.Encoder().encode

ReadBody = Callable[[], Awaitable[bytes]]


@dataclass(slots=True)
class Call:
    path_params: dict[str, str]
    headers: dict[str, str]  # lower-case names; the first of repeated headers
    query_string: bytes
    read_body: ReadBody

    def query_items(self) -> list[tuple[str, str]]:
        return parse_qsl(self.query_string.decode("latin-1"), keep_blank_values=True)


@dataclass(slots=True)
class Reply:
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


def json_reply(content: object, status: int = 200, content_type: str = "application/json") -> Reply:
    return Reply(status, _encode(content), content_type)


def error_reply(
    status: int, code: str, message: str, extra: dict[str, object] | None = None, headers: dict[str, str] | None = None
) -> Reply:
    body = {"error": {"code": code, "message": message, **(extra or {})}}
    return Reply(status, _encode(body), headers=headers or {})


def service_error_reply(error: ServiceError) -> Reply:
    headers = {"retry-after": str(error.retry_after)} if error.retry_after is not None else {}
    return error_reply(error.status, error.code, str(error), error.extra(), {**headers, **error.headers})


def media_type(content_type: str | None) -> str:
    """A Content-Type's type and subtype, lower-case, without parameters ("" when absent)."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def header_dict(raw: list[tuple[bytes, bytes]]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for name, value in raw:
        headers.setdefault(name.decode("latin-1"), value.decode("latin-1"))
    return headers


class ClientGone(Exception):
    """The client went away before its request arrived whole: there is nobody to answer."""


def body_chunk(message: Mapping[str, Any]) -> tuple[bytes, bool]:
    """A piece of the body from an ASGI receive message, and whether more follows."""
    if message["type"] == "http.disconnect":
        raise ClientGone
    return message.get("body", b""), message.get("more_body", False)


async def read_limited(chunks: Callable[[], Awaitable[tuple[bytes, bool]]], declared: str | None) -> bytes:
    """The whole body from `chunks` (each a piece and whether more follows), refusing past 1 MiB."""
    if declared and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise BodyTooLarge
    parts: list[bytes] = []
    size = 0
    more = True
    while more:
        chunk, more = await chunks()
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise BodyTooLarge
        parts.append(chunk)
    return b"".join(parts)
