"""Replies as Starlette responses, for the routes and error handlers Starlette serves."""

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response

from harbor_fleet.web.call import Call, ClientGone, Reply, body_chunk, header_dict, read_limited


def to_response(reply: Reply) -> Response:
    return Response(reply.body, reply.status, headers=reply.headers, media_type=reply.content_type)


async def read_body(request: Request) -> bytes:
    """The request's body, at most 1 MiB (else BodyTooLarge); ClientGone when the client left first."""

    async def chunk() -> tuple[bytes, bool]:
        return body_chunk(await request.receive())

    return await read_limited(chunk, request.headers.get("content-length"))


def endpoint(handler: Callable[[Call], Awaitable[Reply]]) -> Callable[[Request], Awaitable[Response]]:
    """A Starlette endpoint around an API handler (the direct ASGI path serves the same handler)."""

    async def serve(request: Request) -> Response:
        headers = header_dict(request.scope["headers"])
        call = Call(dict(request.path_params), headers, request.scope["query_string"], lambda: read_body(request))
        try:
            return to_response(await handler(call))
        except ClientGone:
            return Response(status_code=400)  # nobody is left to read it

    return serve
