"""Reports from phone apps (DESIGN 2.9) into the same pipeline as signed ingest.

A fix is stored as the credential's own vehicle of its own fleet, whatever ids the request carries, and
answered only once committed. A fix no retry could ever make acceptable (coordinates out of range, a time
outside the fleet's window, a vehicle past the fleet's cap) is dropped with its reason counted and shown
in `device list`, and answered like a stored one: the apps resend anything else, oldest first, and one
such fix would otherwise hold up every later one on the phone forever.
"""

from collections.abc import Sequence
from dataclasses import dataclass

from harbor_fleet import metrics
from harbor_fleet.adapters.postgres.store import DeviceRecord, PostgresStore, StoreUnavailable
from harbor_fleet.domain.device_reports import for_vehicle
from harbor_fleet.domain.fixes import Fix, TimeWindow
from harbor_fleet.domain.fleet import FleetSettings
from harbor_fleet.domain.owntracks import owntracks_location
from harbor_fleet.service.credentials import Credentials
from harbor_fleet.service.errors import InvalidFixes, InvalidToken, RateLimited, Unavailable
from harbor_fleet.service.fleet_service import FleetService

OUTSIDE_WINDOW = "recorded_at_outside_retention_or_future"
FLEET_VIEW_LIMIT = 100  # vehicles in an OwnTracks answer: the most recent, so an answer stays small


@dataclass(frozen=True, slots=True)
class Report:
    """What one position (a request, or one item of a batch) told of its device."""

    fix: Fix | None  # its vehicle still unassigned; None: a heartbeat (no coordinates)
    battery: float | None = None
    rejected: str | None = None  # why the fix it carried cannot be stored
    at: int | None = None  # when it was taken, as it says, when it carries no fix to tell (a heartbeat)

    def taken_at(self, now_micros: int) -> int:
        """When its battery reading was taken: as the report says, never later than its arrival (a phone
        whose clock runs ahead must not hide every later reading)."""
        if self.fix is not None:
            said = self.fix.recorded_at
        elif self.at is not None:
            said = self.at
        else:
            return now_micros
        return min(said, now_micros)


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

    async def report(self, device: DeviceRecord, reports: Sequence[Report], protocol: str) -> None:
        """Store the reports' fixes in one commit (returns once committed) and note the device as heard: its
        battery as the newest report that has one says (a late resend of an old fix does not set it back),
        and the reason of the last fix dropped, if one was."""
        fleet = await self._credentials.fleets.get(device.fleet_id)
        if fleet is None:
            raise InvalidToken("the device's fleet no longer exists")
        rejections = [report.rejected for report in reports]
        storable = [
            (index, report.fix)
            for index, report in enumerate(reports)
            if report.fix is not None and report.rejected is None
        ]
        if storable:
            reasons = await self._store_fixes(device, fleet, [fix for _, fix in storable], protocol)
            for (index, _), reason in zip(storable, reasons, strict=True):
                rejections[index] = reason
        self._count(reports, rejections, protocol)
        await self._seen(device, reports, next((r for r in reversed(rejections) if r is not None), None))

    def _count(self, reports: Sequence[Report], rejections: Sequence[str | None], protocol: str) -> None:
        dropped = sum(reason is not None for reason in rejections)
        heartbeats = sum(
            report.fix is None and reason is None for report, reason in zip(reports, rejections, strict=True)
        )
        if dropped:
            metrics.FIXES.labels("rejected").inc(dropped)
            metrics.DEVICE_REPORTS.labels(protocol, "rejected").inc(dropped)
        if heartbeats:
            metrics.DEVICE_REPORTS.labels(protocol, "heartbeat").inc(heartbeats)

    async def _seen(self, device: DeviceRecord, reports: Sequence[Report], rejected: str | None) -> None:
        now = self._service.now_micros()
        readings = [(report.battery, report.taken_at(now)) for report in reports if report.battery is not None]
        newest = max(readings, key=lambda reading: reading[1]) if readings else None
        try:
            await self._store.device_seen(device.device_id, newest, rejected)
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

    async def _store_fixes(
        self, device: DeviceRecord, fleet: FleetSettings, fixes: Sequence[Fix], protocol: str
    ) -> list[str | None]:
        """Store the fixes as one write; for each, the reason it can never be stored, if so."""
        window = TimeWindow.at(self._service.now_micros(), fleet.retention_days)
        reasons = [None if window.contains(fix.recorded_at) else OUTSIDE_WINDOW for fix in fixes]
        kept = [for_vehicle(fix, device.vehicle_id) for fix, reason in zip(fixes, reasons, strict=True) if not reason]
        if not kept:
            return reasons
        try:
            written = await self._service.store_fixes(fleet, kept)
        except InvalidFixes:  # the only invalidity left once the fixes are parsed: the fleet's vehicle cap
            return [reason or "vehicle_cap_reached" for reason in reasons]
        if written.accepted:
            metrics.DEVICE_REPORTS.labels(protocol, "stored").inc(written.accepted)
        if written.duplicates:
            metrics.DEVICE_REPORTS.labels(protocol, "duplicate").inc(written.duplicates)
        return reasons
