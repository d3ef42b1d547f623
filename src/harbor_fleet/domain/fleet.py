"""A fleet's settings and its latest positions, and the online/offline rule (DESIGN 2.2, 2.7)."""

from dataclasses import dataclass, field

from harbor_fleet.domain.events import Event, VehicleStatus
from harbor_fleet.domain.fixes import Fix
from harbor_fleet.domain.times import MICROS

__all__ = ["FleetSettings", "FleetState", "VehicleStatus", "vehicle_status"]

DEFAULT_OFFLINE_AFTER_S = 300
DEFAULT_RETENTION_DAYS = 90
DEFAULT_MAX_VEHICLES = 10_000


@dataclass(frozen=True, slots=True)
class FleetSettings:
    fleet_id: str
    name: str | None = None
    offline_after_s: int = DEFAULT_OFFLINE_AFTER_S
    retention_days: int = DEFAULT_RETENTION_DAYS
    max_vehicles: int = DEFAULT_MAX_VEHICLES
    devices_see_fleet: bool = False  # OwnTracks phones are answered with the other vehicles' positions

    @property
    def offline_after_micros(self) -> int:
        return self.offline_after_s * MICROS


def vehicle_status(recorded_at: int, now: int, offline_after_micros: int) -> VehicleStatus:
    """Offline once the latest fix is older than the threshold; online otherwise."""
    return "offline" if now - recorded_at > offline_after_micros else "online"


@dataclass(slots=True)
class FleetState:
    """What a tracker holds: each vehicle's latest position and the fleet's event sequence."""

    settings: FleetSettings
    seq: int = 0
    positions: dict[str, Fix] = field(default_factory=dict)
    version: int = 0  # bumped on every change, so renderers can cache

    def apply(self, seq: int, event: Event) -> None:
        """Take the event `seq`: a fix moves its vehicle unless it is late; other events (status changes,
        which status computes from time anyway) only advance the sequence."""
        if seq <= self.seq:
            return
        self.seq = seq
        if isinstance(event, Fix):
            current = self.positions.get(event.vehicle_id)
            if current is None or event.recorded_at > current.recorded_at:
                self.positions[event.vehicle_id] = event
        self.version += 1

    def next_status_change(self, now: int) -> int | None:
        """The first instant after `now` when some online vehicle turns offline."""
        threshold = self.settings.offline_after_micros
        flips = [p.recorded_at + threshold for p in self.positions.values() if p.recorded_at + threshold >= now]
        return min(flips) + 1 if flips else None
