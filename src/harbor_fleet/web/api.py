"""The v1 JSON API: ingest (2.1), status (2.2) and track (2.3)."""

from typing import TYPE_CHECKING

from harbor_fleet.domain.fleet import FleetSettings
from harbor_fleet.service.errors import Unavailable, UnsupportedMediaType
from harbor_fleet.web import track_query
from harbor_fleet.web.call import Call, Reply, json_reply
from harbor_fleet.web.track_render import render_track, wants_geojson

if TYPE_CHECKING:
    from harbor_fleet.bootstrap import Application


class Api:
    """Endpoints bound to the running application (set once the lifespan has started it)."""

    def __init__(self) -> None:
        self.app: Application | None = None

    @property
    def application(self) -> "Application":
        """The running application; 503 while it is starting or stopping."""
        if self.app is None:
            raise Unavailable(retry_after=1)
        return self.app

    async def ingest(self, call: Call) -> Reply:
        headers = call.headers
        if not _is_json(headers.get("content-type")):
            raise UnsupportedMediaType
        body = await call.read_body()
        service = self.application.service
        key = await service.credentials.partner(
            headers.get("x-harbor-key"), headers.get("x-harbor-timestamp"), headers.get("x-harbor-signature"), body
        )
        fleet = await service.credentials.fleet_for(key.fleets, call.path_params["fleet_id"])
        accepted = await service.ingest(fleet, body)
        return json_reply({"accepted": accepted.accepted, "duplicates": accepted.duplicates}, 202)

    async def status(self, call: Call) -> Reply:
        fleet = await self._operator_fleet(call)
        return Reply(200, await self.application.service.status(fleet))

    async def track(self, call: Call) -> Reply:
        fleet = await self._operator_fleet(call)
        vehicle_id = call.path_params["vehicle_id"]
        service = self.application.service
        query = track_query.parse(call.query_items(), service.now_micros())
        page = await service.track(fleet, vehicle_id, query.start, query.end, query.limit)
        geojson = wants_geojson(call.headers.get("accept", ""))
        return render_track(fleet.fleet_id, vehicle_id, page, geojson)

    async def _operator_fleet(self, call: Call) -> FleetSettings:
        credentials = self.application.service.credentials
        token = await credentials.operator(call.headers.get("authorization"))
        return await credentials.fleet_for(token.fleets, call.path_params["fleet_id"])


def _is_json(content_type: str | None) -> bool:
    return content_type is not None and content_type.split(";", 1)[0].strip().lower() == "application/json"
