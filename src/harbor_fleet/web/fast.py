"""The hot API paths as plain ASGI, in front of the Starlette app.

Ingest, status and track are served here without Starlette's request, response, routing and
middleware objects (measured on one core: about 15 µs of the ~45 µs a status read cost). Everything
else (other paths, other methods on these paths, lifespan) goes to the Starlette app, which also
routes these paths to the same handlers, so HEAD, 405 and tests behave the same either way.
"""

import logging
import re
import time
from collections.abc import Awaitable, Callable

from starlette.datastructures import State
from starlette.types import ASGIApp, Receive, Scope, Send

from harbor_fleet.adapters.postgres.store import StoreUnavailable
from harbor_fleet.logs import REQUEST_ID
from harbor_fleet.metrics import http_timer
from harbor_fleet.service.errors import ServiceError, Unavailable
from harbor_fleet.web.api import Api
from harbor_fleet.web.call import (
    Call,
    ClientGone,
    Reply,
    body_chunk,
    error_reply,
    header_dict,
    read_limited,
    service_error_reply,
)
from harbor_fleet.web.middleware import request_id_of

log = logging.getLogger(__name__)
Handler = Callable[[Call], Awaitable[Reply]]

_FLEET = r"/api/v1/fleets/(?P<fleet_id>[^/]+)"
_TEMPLATE = "/api/v1/fleets/{fleet_id}"  # routes are labelled by template, as Starlette names them
CLIENT_GONE = 499  # the status label of a request whose client went away before the answer


class DirectApi:
    def __init__(self, api: Api, fallback: ASGIApp, state: State) -> None:
        self._fallback = fallback
        self.state = state
        self._routes: list[tuple[re.Pattern[str], str, Handler, str]] = [
            (re.compile(f"{_FLEET}/positions"), "POST", api.ingest, f"{_TEMPLATE}/positions"),
            (re.compile(f"{_FLEET}/status"), "GET", api.status, f"{_TEMPLATE}/status"),
            (
                re.compile(f"{_FLEET}/vehicles/(?P<vehicle_id>[^/]+)/track"),
                "GET",
                api.track,
                f"{_TEMPLATE}/vehicles/{{vehicle_id}}/track",
            ),
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path, method = scope["path"], scope["method"]
            for pattern, route_method, handler, template in self._routes:
                if method == route_method:
                    match = pattern.fullmatch(path)
                    if match:
                        started = time.perf_counter()
                        status = await self._serve(handler, match.groupdict(), scope, receive, send)
                        http_timer(template, method, status).observe(time.perf_counter() - started)
                        return
        await self._fallback(scope, receive, send)

    async def _serve(self, handler: Handler, params: dict[str, str], scope: Scope, receive: Receive, send: Send) -> int:
        """Answer the request; the status answered (499 when the client left first)."""
        request_id = request_id_of(scope["headers"])
        REQUEST_ID.set(request_id.decode())
        headers = header_dict(scope["headers"])

        async def chunk() -> tuple[bytes, bool]:
            return body_chunk(await receive())

        call = Call(params, headers, scope["query_string"], lambda: read_limited(chunk, headers.get("content-length")))
        try:
            reply = await handler(call)
        except ServiceError as error:
            reply = service_error_reply(error)
        except ClientGone:
            return CLIENT_GONE
        except StoreUnavailable:
            reply = service_error_reply(Unavailable(retry_after=1))
        except Exception:
            log.exception("unhandled error")
            reply = error_reply(500, "internal_error", "something went wrong on our side")
        await send_reply(send, reply, request_id)
        return reply.status


async def send_reply(send: Send, reply: Reply, request_id: bytes) -> None:
    headers = [
        (b"content-type", reply.content_type.encode()),
        (b"content-length", str(len(reply.body)).encode()),
        (b"x-request-id", request_id),
    ]
    headers.extend((name.encode(), value.encode()) for name, value in reply.headers.items())
    await send({"type": "http.response.start", "status": reply.status, "headers": headers})
    await send({"type": "http.response.body", "body": reply.body})
