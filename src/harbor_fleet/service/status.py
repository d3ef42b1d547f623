"""Fleet status as JSON bytes, rendered from a FleetState and cached until it changes.

Status depends on the time of the answer only through online/offline, so a rendering stays valid
until the state changes or the next vehicle passes its offline threshold.
"""

from dataclasses import dataclass

import msgspec

from harbor_fleet.domain.fleet import FleetState, VehicleStatus, vehicle_status
from harbor_fleet.domain.times import format_micros


class VehicleOut(msgspec.Struct):
    vehicle_id: str
    lat: float
    lng: float
    recorded_at: str
    speed_kmh: float | None
    heading_deg: float | None
    accuracy_m: float | None
    status: VehicleStatus


class StatusOut(msgspec.Struct):
    fleet_id: str
    as_of: str
    seq: int
    vehicles: msgspec.Raw


_encoder = msgspec.json.Encoder()


def render_vehicles(state: FleetState, now: int) -> bytes:
    threshold = state.settings.offline_after_micros
    return _encoder.encode(
        [
            VehicleOut(
                fix.vehicle_id,
                fix.lat,
                fix.lng,
                format_micros(fix.recorded_at),
                fix.speed_kmh,
                fix.heading_deg,
                fix.accuracy_m,
                vehicle_status(fix.recorded_at, now, threshold),
            )
            for _, fix in sorted(state.positions.items())
        ]
    )


def render_status(fleet_id: str, seq: int, vehicles: bytes, now: int) -> bytes:
    return _encoder.encode(StatusOut(fleet_id, format_micros(now), seq, msgspec.Raw(vehicles)))


@dataclass(slots=True)
class _Rendered:
    state: FleetState
    version: int
    valid_until: int | None
    vehicles: bytes


class StatusRenderer:
    """Keeps one rendering per fleet; bounded by the number of fleets that have trackers."""

    def __init__(self) -> None:
        self._cache: dict[str, _Rendered] = {}

    def render(self, state: FleetState, now: int) -> bytes:
        fleet_id = state.settings.fleet_id
        cached = self._cache.get(fleet_id)
        if (
            cached is None
            or cached.state is not state
            or cached.version != state.version
            or (cached.valid_until is not None and now >= cached.valid_until)
        ):
            cached = _Rendered(state, state.version, state.next_status_change(now), render_vehicles(state, now))
            self._cache[fleet_id] = cached
        return render_status(fleet_id, state.seq, cached.vehicles, now)
