"""What a fleet's event log holds (DESIGN 2.4, 2.7): a stored fix, or a vehicle's status changing. Each
event has the fleet's next `seq`; `Committed` is a commit's events of one fleet, in seq order."""

from typing import Literal, NamedTuple

from harbor_fleet.domain.fixes import Fix

VehicleStatus = Literal["online", "offline"]


class StatusChange(NamedTuple):
    vehicle_id: str
    status: VehicleStatus
    at: int  # microseconds since the Unix epoch: when the change happened


Event = Fix | StatusChange
Committed = list[tuple[int, Event]]
