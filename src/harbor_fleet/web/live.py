"""WebSocket `/api/v1/fleets/{fleet_id}/live[?since=K]` (DESIGN 2.4).

A handshake that fails authorization, names an unknown fleet or carries a bad `since` is refused
before it is accepted, with the HTTP status and error body where the server can send one (else 403).
"""

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any

from starlette.responses import Response
from starlette.websockets import WebSocket, WebSocketDisconnect

from harbor_fleet import metrics
from harbor_fleet.adapters.postgres.store import StoreUnavailable
from harbor_fleet.service.errors import ServiceError, Unavailable
from harbor_fleet.web.call import service_error_reply
from harbor_fleet.web.session import SESSION_COOKIE, same_origin

if TYPE_CHECKING:
    from harbor_fleet.web.api import Api


MIN_RECHECK_SECONDS = 0.5
_SENT = metrics.WS_FRAMES.labels("sent")


def _counted(send: Callable[[str], Awaitable[None]]) -> Callable[[str], Awaitable[None]]:
    async def send_counted(text: str) -> None:
        await send(text)
        _SENT.inc()

    return send_counted


def live_endpoint(api: "Api") -> Callable[[WebSocket], Awaitable[None]]:
    async def live(websocket: WebSocket) -> None:
        application = api.app
        if application is None:
            await _refuse(websocket, Unavailable(retry_after=1))
            return
        service = application.live
        try:
            request = await service.authorize(
                websocket.headers.get("authorization"),
                websocket.path_params["fleet_id"],
                websocket.query_params.getlist("since"),
                session=websocket.cookies.get(SESSION_COOKIE),
                same_origin=same_origin(websocket.headers.get("origin"), websocket.headers.get("host")),
            )
            session = service.join(request)
        except ServiceError as error:
            await _refuse(websocket, error)
            return
        except StoreUnavailable:
            await _refuse(websocket, Unavailable(retry_after=1))
            return
        try:
            await websocket.accept()
            # Re-checked as often as the cache is refreshed, but never in a busy loop (a TTL of 0 is allowed).
            every = max(application.settings.credential_cache_seconds, MIN_RECHECK_SECONDS)
            revoked = service.watch_credential(request, every)
            await _serve(websocket, service.stream(request, session, _counted(websocket.send_text)), revoked)
        finally:
            service.leave(session)

    return live


async def _serve(websocket: WebSocket, stream: Coroutine[Any, Any, None], revoked: Coroutine[Any, Any, None]) -> None:
    """Run the stream until the client goes away, sending fails or the credential is revoked; the
    first of the three to end stops the others."""
    closed = False
    try:
        async with asyncio.TaskGroup() as group:
            tasks = [
                group.create_task(stream, name="live-send"),
                group.create_task(_until_disconnect(websocket), name="live-receive"),
                watching := group.create_task(revoked, name="live-credential"),
            ]
            for task in tasks:
                task.add_done_callback(lambda _: [other.cancel() for other in tasks])
    except* ServiceError as failures:
        with contextlib.suppress(Exception):
            await websocket.close(code=1011, reason=str(failures.exceptions[0])[:100])
        closed = True
    except* (WebSocketDisconnect, OSError, RuntimeError):
        closed = True  # the client left while we were sending
    if not closed and watching.done() and not watching.cancelled():
        with contextlib.suppress(Exception):
            await websocket.close(code=1008, reason="the credential was revoked")


async def _until_disconnect(websocket: WebSocket) -> None:
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return


async def _refuse(websocket: WebSocket, error: ServiceError) -> None:
    if "websocket.http.response" in websocket.scope.get("extensions", {}):
        reply = service_error_reply(error)
        response = Response(reply.body, reply.status, headers=reply.headers, media_type=reply.content_type)
        await websocket.send_denial_response(response)
    else:
        await websocket.close(code=1008)  # the server answers the handshake with 403
