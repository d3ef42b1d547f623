"""Reports from phone apps (DESIGN 2.9) into the same pipeline as signed ingest.

A fix is stored as the credential's own vehicle of its own fleet, whatever ids the request carries, and
answered only once committed. A fix no retry could ever make acceptable (coordinates out of range, a time
outside the fleet's window, a vehicle past the fleet's cap) is dropped with its reason counted and shown
in `device list`, and answered like a stored one: the apps resend anything else, oldest first, and one
such fix would otherwise hold up every later one on the phone forever.
"""

from dataclasses import dataclass

from harbor_fleet import metrics
from harbor_fleet.adapters.postgres.store import DeviceRecord, PostgresStore, StoreUnavailable
from harbor_fleet.domain.device_reports import for_vehicle, owntracks_location
from harbor_fleet.domain.fixes import Fix, TimeWindow
from harbor_fleet.domain.fleet import FleetSettings
from harbor_fleet.service.credentials import Credentials
from harbor_fleet.service.errors import InvalidFixes, InvalidToken, RateLimited, Unavailable
from harbor_fleet.service.fleet_service import FleetService

FLEET_VIEW_LIMIT = 100  # vehicles in an OwnTracks answer: the most recent, so an answer stays small


@dataclass(frozen=True, slots=True)
class Report:
    """What one request told of its device."""

    fix: Fix | None  # its vehicle still unassigned; None: a heartbeat (no coordinates)
    battery: float | None = None
    rejected: str | None = None  # why the fix it carried cannot be stored


class DeviceReports:
    def __init__(self, service: FleetService, credentials: Credentials, store: PostgresStore) -> None:
        self._service = service
        self._credentials = credentials
        self._store = store

    async def device(self, token: str | None) -> DeviceRecord:
        """The device of a credential. Over its rate it is told 503, not 429: OwnTracks for iOS deletes a
        fix answered with any 4xx (owntracks/ios `Connection.m` `sendHTTP`), and keeps one answered 5xx."""
        try:
            return await self._credentials.device(token)
        except RateLimited as error:
            raise Unavailable(retry_after=error.retry_after) from error

    async def report(self, device: DeviceRecord, report: Report, protocol: str) -> None:
        """Store the report's fix (returns once committed) and note the device as heard."""
        fleet = await self._credentials.fleets.get(device.fleet_id)
        if fleet is None:
            raise InvalidToken("the device's fleet no longer exists")
        rejected = report.rejected
        if report.fix is not None and rejected is None:
            rejected = await self._store_fix(device, fleet, report.fix, protocol)
        if rejected is not None:
            metrics.FIXES.labels("rejected").inc()
            metrics.DEVICE_REPORTS.labels(protocol, "rejected").inc()
        elif report.fix is None:
            metrics.DEVICE_REPORTS.labels(protocol, "heartbeat").inc()
        try:
            await self._store.device_seen(device.device_id, report.battery, rejected)
        except StoreUnavailable as error:
            raise Unavailable(retry_after=1) from error

    async def fleet_view(self, device: DeviceRecord) -> list[dict[str, object]]:
        """For an OwnTracks answer: the fleet's other vehicles, most recent first, when the fleet shows them
        to its phones (`fleet create --devices-see-fleet`); else nothing."""
        fleet = await self._credentials.fleets.get(device.fleet_id)
        if fleet is None or not fleet.devices_see_fleet:
            return []
        positions = (await self._service.current_state(fleet)).positions
        others = [fix for vehicle_id, fix in positions.items() if vehicle_id != device.vehicle_id]
        others.sort(key=lambda fix: fix.recorded_at, reverse=True)
        return [owntracks_location(fleet.fleet_id, fix) for fix in others[:FLEET_VIEW_LIMIT]]

    async def _store_fix(self, device: DeviceRecord, fleet: FleetSettings, fix: Fix, protocol: str) -> str | None:
        """Store the fix; the reason it cannot ever be stored, if so."""
        if not TimeWindow.at(self._service.now_micros(), fleet.retention_days).contains(fix.recorded_at):
            return "recorded_at_outside_retention_or_future"
        try:
            written = await self._service.store_fixes(fleet, [for_vehicle(fix, device.vehicle_id)])
        except InvalidFixes:  # the only invalidity left once the fix is parsed: the fleet's vehicle cap
            return "vehicle_cap_reached"
        metrics.DEVICE_REPORTS.labels(protocol, "stored" if written.accepted else "duplicate").inc()
        return None
