"""Signing in to the live map: an operator token is exchanged for an HttpOnly session cookie, so the
token never sits in a URL, a log line or the page's script."""

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from harbor_fleet.service.credentials import SESSION_SECONDS
from harbor_fleet.service.errors import MalformedJson, MissingToken, UnsupportedMediaType
from harbor_fleet.web.call import ClientGone, json_reply
from harbor_fleet.web.responses import read_body, to_response

if TYPE_CHECKING:
    from harbor_fleet.web.api import Api

SESSION_COOKIE = "harbor_session"
Endpoint = Callable[[Request], Awaitable[Response]]


class _SignIn(msgspec.Struct):
    token: str


def same_origin(origin: str | None, host: str | None) -> bool:
    return bool(origin and host) and urlsplit(origin).netloc == host


def session_endpoints(api: "Api") -> tuple[Endpoint, Endpoint, Endpoint]:
    async def sign_in(request: Request) -> Response:
        if request.headers.get("content-type", "").split(";")[0].strip().lower() != "application/json":
            raise UnsupportedMediaType
        try:
            body = await read_body(request)
            token = msgspec.json.decode(body, type=_SignIn).token
        except msgspec.ValidationError as error:
            raise MissingToken('the body must be {"token": "<operator token>"}') from error
        except msgspec.DecodeError as error:
            raise MalformedJson from error
        except ClientGone:
            return Response(status_code=400)  # nobody is left to read it
        session, record = await api.application.service.credentials.sign_in(token)
        response = to_response(json_reply({"fleets": sorted(record.fleets)}))
        response.set_cookie(
            SESSION_COOKIE,
            session,
            max_age=SESSION_SECONDS,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
            path="/",
        )
        return response

    async def current(request: Request) -> Response:
        credentials = api.application.service.credentials
        record = await credentials.operator(None, request.cookies.get(SESSION_COOKIE))
        return to_response(json_reply({"fleets": sorted(record.fleets)}))

    async def sign_out(request: Request) -> Response:
        session = request.cookies.get(SESSION_COOKIE)
        if session:
            await api.application.service.credentials.sign_out(session)
        response = Response(status_code=204)
        response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
        return response

    return sign_in, current, sign_out
