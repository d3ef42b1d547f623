"""The v1 JSON API: ingest (2.1), status (2.2) and track (2.3)."""

from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response

from harbor_fleet.domain.fleet import FleetSettings
from harbor_fleet.service.errors import BodyTooLarge, UnsupportedMediaType
from harbor_fleet.web import track_query
from harbor_fleet.web.responses import json_response
from harbor_fleet.web.track_render import render_track

if TYPE_CHECKING:
    from harbor_fleet.bootstrap import Application

MAX_BODY_BYTES = 1024 * 1024


class Api:
    """Endpoints bound to the running application (set once the lifespan has started it)."""

    def __init__(self) -> None:
        self.app: Application | None = None

    @property
    def _app(self) -> "Application":
        assert self.app is not None, "the application has not started"
        return self.app

    async def ingest(self, request: Request) -> Response:
        if not _is_json(request.headers.get("content-type")):
            raise UnsupportedMediaType
        body = await _read_body(request)
        headers = request.headers
        service = self._app.service
        key = await service.credentials.partner(
            headers.get("x-harbor-key"), headers.get("x-harbor-timestamp"), headers.get("x-harbor-signature"), body
        )
        fleet = await service.credentials.fleet_for(key.fleets, request.path_params["fleet_id"])
        accepted = await service.ingest(fleet, body)
        return json_response({"accepted": accepted.accepted, "duplicates": accepted.duplicates}, 202)

    async def status(self, request: Request) -> Response:
        fleet = await self._operator_fleet(request)
        return Response(await self._app.service.status(fleet), media_type="application/json")

    async def track(self, request: Request) -> Response:
        fleet = await self._operator_fleet(request)
        vehicle_id = request.path_params["vehicle_id"]
        service = self._app.service
        query = track_query.parse(request.query_params.multi_items(), service.now_micros())
        page = await service.track(fleet, vehicle_id, query.start, query.end, query.limit)
        geojson = "application/geo+json" in request.headers.get("accept", "")
        return render_track(fleet.fleet_id, vehicle_id, page, geojson)

    async def _operator_fleet(self, request: Request) -> FleetSettings:
        credentials = self._app.service.credentials
        token = await credentials.operator(request.headers.get("authorization"))
        return await credentials.fleet_for(token.fleets, request.path_params["fleet_id"])


def _is_json(content_type: str | None) -> bool:
    return content_type is not None and content_type.split(";", 1)[0].strip().lower() == "application/json"


async def _read_body(request: Request) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)
