"""Live-stream frames (DESIGN 2.4): encoded once when committed, sent as they are to every client."""

import msgspec

from harbor_fleet.domain.events import Committed, Event, StatusChange, VehicleStatus
from harbor_fleet.domain.fixes import Fix
from harbor_fleet.domain.times import format_micros, parse_instant


class PositionFrame(msgspec.Struct, tag_field="type", tag="position"):
    seq: int
    vehicle_id: str
    lat: float
    lng: float
    recorded_at: str
    speed_kmh: float | None
    heading_deg: float | None
    accuracy_m: float | None

    def fix(self) -> Fix:
        return Fix(
            self.vehicle_id,
            parse_instant(self.recorded_at) or 0,
            self.lat,
            self.lng,
            self.speed_kmh,
            self.heading_deg,
            self.accuracy_m,
        )


class StatusFrame(msgspec.Struct, tag_field="type", tag="vehicle_status"):
    seq: int
    vehicle_id: str
    status: VehicleStatus
    at: str

    def event(self) -> StatusChange:
        return StatusChange(self.vehicle_id, self.status, parse_instant(self.at) or 0)


Frame = PositionFrame | StatusFrame

_encode = msgspec.json.Encoder().encode
_decoder = msgspec.json.Decoder(Frame)


def event_of(frame: Frame) -> Event:
    return frame.fix() if isinstance(frame, PositionFrame) else frame.event()


def position_frame(seq: int, fix: Fix) -> bytes:
    return _encode(
        PositionFrame(
            seq,
            fix.vehicle_id,
            fix.lat,
            fix.lng,
            format_micros(fix.recorded_at),
            fix.speed_kmh,
            fix.heading_deg,
            fix.accuracy_m,
        )
    )


def status_frame(seq: int, change: StatusChange) -> bytes:
    return _encode(StatusFrame(seq, change.vehicle_id, change.status, format_micros(change.at)))


def event_frame(seq: int, event: Event) -> bytes:
    return position_frame(seq, event) if isinstance(event, Fix) else status_frame(seq, event)


def encode_batch(events: Committed) -> bytes:
    """One bus message for one commit of one fleet: a frame per line (JSON never holds a raw newline)."""
    return b"\n".join(event_frame(seq, event) for seq, event in events)


def decode_batch(data: bytes) -> list[tuple[Frame, str]]:
    """Each frame of a bus message, decoded and as the text sent to clients."""
    return [(_decoder.decode(line), line.decode()) for line in data.split(b"\n")]


def snapshot_frame(status: bytes) -> str:
    """A snapshot is the status document with `"type": "snapshot"` first."""
    return '{"type":"snapshot",' + status[1:].decode()
