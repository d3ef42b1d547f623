"""The v1 JSON API: ingest (2.1), status (2.2) and track (2.3)."""

import logging
from typing import TYPE_CHECKING

from harbor_fleet import metrics
from harbor_fleet.adapters.postgres.batch_store import Written
from harbor_fleet.adapters.postgres.store import StoreUnavailable
from harbor_fleet.domain.fleet import FleetSettings
from harbor_fleet.service.errors import InvalidFixes, ServiceError, Unavailable, UnsupportedMediaType
from harbor_fleet.web import track_query
from harbor_fleet.web.call import Call, Reply, json_reply, media_type
from harbor_fleet.web.track_render import render_track, wants_geojson

if TYPE_CHECKING:
    from harbor_fleet.bootstrap import Application


log = logging.getLogger(__name__)


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
        try:
            written = await self._ingest(call)
        except ServiceError as error:
            _refused(call, error.code, error.status, error)
            raise
        except StoreUnavailable:
            _refused(call, Unavailable.code, Unavailable.status)
            raise
        _ACCEPTED.inc()
        return json_reply({"accepted": written.accepted, "duplicates": written.duplicates}, 202)

    async def _ingest(self, call: Call) -> Written:
        headers = call.headers
        if not _is_json(headers.get("content-type")):
            raise UnsupportedMediaType
        body = await call.read_body()
        service = self.application.service
        key = await service.credentials.partner(
            headers.get("x-harbor-key"), headers.get("x-harbor-timestamp"), headers.get("x-harbor-signature"), body
        )
        fleet = await service.credentials.fleet_for(key.fleets, call.path_params["fleet_id"])
        return await service.ingest(fleet, body)

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


_ACCEPTED = metrics.INGEST_REQUESTS.labels("accepted")
_FIXES_REJECTED = metrics.FIXES.labels("rejected")


def _refused(call: Call, code: str, status: int, error: ServiceError | None = None) -> None:
    """Count a refused request by its error code (a fixed set), and the fixes it named invalid as rejected;
    log it (floods of 429 and 503 only at debug). What identifies the caller is logged, never a secret:
    the key id, not the signature."""
    level = logging.DEBUG if status in (429, 503) else logging.INFO
    if log.isEnabledFor(level):
        where = {
            "fleet_id": call.path_params.get("fleet_id", "")[:64],
            "key_id": call.headers.get("x-harbor-key", "")[:64],
        }
        log.log(level, "ingest refused", extra={"code": code, "status": status, **where})
    metrics.INGEST_REQUESTS.labels(code).inc()
    if isinstance(error, InvalidFixes):
        _FIXES_REJECTED.inc(len({problem.index for problem in error.errors if problem.index is not None}))


def _is_json(content_type: str | None) -> bool:
    return media_type(content_type) == "application/json"
