"""The ASGI application: routes, error rendering, and the lifespan that starts the service tree."""

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.resources import files

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles

from harbor_fleet.adapters.postgres.store import StoreUnavailable
from harbor_fleet.bootstrap import Application
from harbor_fleet.logs import configure_logging
from harbor_fleet.service.errors import ServiceError, Unavailable
from harbor_fleet.settings import Settings, load_settings
from harbor_fleet.web import ops
from harbor_fleet.web.api import Api
from harbor_fleet.web.call import error_reply, service_error_reply
from harbor_fleet.web.devices import DeviceApi
from harbor_fleet.web.fast import DirectApi
from harbor_fleet.web.live import live_endpoint
from harbor_fleet.web.map_page import map_endpoint
from harbor_fleet.web.middleware import RequestTracking
from harbor_fleet.web.responses import endpoint, to_response
from harbor_fleet.web.session import session_endpoints

log = logging.getLogger(__name__)
_OPENAPI = files("harbor_fleet.web").joinpath("openapi.json").read_bytes()  # the contract of DESIGN 2, as OpenAPI 3.1


def create_app(settings: Settings) -> DirectApi:
    """The service as an ASGI app. The running Application is `app.state.api.app` once started."""
    api = Api()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        api.app = await Application.start(settings)
        try:
            yield
        finally:
            application, api.app = api.app, None
            await application.stop()

    fleet = "/api/v1/fleets/{fleet_id}"
    sign_in, current_session, sign_out = session_endpoints(api)
    devices = DeviceApi(api)
    routes = [
        Route(f"{fleet}/positions", endpoint(api.ingest), methods=["POST"]),
        Route(f"{fleet}/status", endpoint(api.status), methods=["GET"]),
        Route(f"{fleet}/vehicles/{{vehicle_id}}/track", endpoint(api.track), methods=["GET"]),
        WebSocketRoute(f"{fleet}/live", live_endpoint(api)),
        Route("/api/v1/osmand", endpoint(devices.osmand), methods=["GET", "POST"]),
        Route("/api/v1/owntracks", endpoint(devices.owntracks), methods=["POST"]),
        Route("/api/v1/session", sign_in, methods=["POST"]),
        Route("/api/v1/session", current_session, methods=["GET"]),
        Route("/api/v1/session", sign_out, methods=["DELETE"]),
        Route("/fleets/{fleet_id}/map", map_endpoint(settings.map_tiles, settings.map_attribution), methods=["GET"]),
        Mount("/static", StaticFiles(packages=[("harbor_fleet.web", "static")]), name="static"),
        Route("/health", ops.health, methods=["GET"]),
        Route("/ready", ops.ready_endpoint(api), methods=["GET"]),
        Route("/metrics", ops.metrics_endpoint(api), methods=["GET"]),
        Route("/openapi.json", openapi, methods=["GET"]),
    ]
    handlers = {
        ServiceError: _service_error,
        StoreUnavailable: _store_unavailable,
        HTTPException: _http_error,
        Exception: _internal_error,
    }
    app = Starlette(
        routes=routes,
        middleware=[Middleware(RequestTracking)],
        exception_handlers=handlers,
        lifespan=lifespan,
    )
    app.state.api = api
    return DirectApi(api, app, app.state)


def create_app_from_env() -> DirectApi:
    """The factory `serve` hands to uvicorn (each worker process builds its own, logging included)."""
    settings = load_settings()
    configure_logging(settings.log_level, settings.access_log)
    return create_app(settings)


async def openapi(request: Request) -> Response:
    """The service's own OpenAPI 3.1 document (web/openapi.json, loaded once)."""
    return Response(_OPENAPI, media_type="application/json")


async def _service_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, ServiceError)
    return to_response(service_error_reply(error))


async def _store_unavailable(request: Request, error: Exception) -> Response:
    return to_response(service_error_reply(Unavailable(retry_after=1)))


_HTTP_CODES = {404: ("not_found", "no such path"), 405: ("method_not_allowed", "method not allowed on this path")}


async def _http_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, HTTPException)
    code, message = _HTTP_CODES.get(error.status_code, ("http_error", str(error.detail)))
    return to_response(error_reply(error.status_code, code, message, headers=dict(error.headers or {})))


async def _internal_error(request: Request, error: Exception) -> Response:
    log.error("unhandled error", exc_info=error)
    return to_response(error_reply(500, "internal_error", "something went wrong on our side"))
