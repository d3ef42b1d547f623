"""Live-stream frames (DESIGN 2.4): encoded once when committed, sent as they are to every client."""

import msgspec

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


_encode = msgspec.json.Encoder().encode
_decoder = msgspec.json.Decoder(PositionFrame)


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


def encode_batch(events: list[tuple[int, Fix]]) -> bytes:
    """One bus message for one commit of one fleet: a frame per line (JSON never holds a raw newline)."""
    return b"\n".join(position_frame(seq, fix) for seq, fix in events)


def decode_batch(data: bytes) -> list[tuple[PositionFrame, str]]:
    """Each frame of a bus message, decoded and as the text sent to clients."""
    return [(_decoder.decode(line), line.decode()) for line in data.split(b"\n")]


def snapshot_frame(status: bytes) -> str:
    """A snapshot is the status document with `"type": "snapshot"` first."""
    return '{"type":"snapshot",' + status[1:].decode()
