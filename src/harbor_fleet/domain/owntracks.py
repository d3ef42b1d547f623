"""OwnTracks' reports (HTTP mode) read into fixes, and fixes written as OwnTracks messages. Pure: no I/O.

OwnTracks POSTs one JSON object with a `_type`: owntracks/booklet docs/tech/json.md, and
owntracks/android .../model/messages/MessageLocation.kt for what the app really writes (formats learnt
there, nothing copied).
"""

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from harbor_fleet.domain.device_reports import (
    EARLIEST,
    LATEST,
    MAX_VALUE_CHARS,
    UNASSIGNED,
    Rejected,
    in_range,
    json_coordinate,
    json_number,
    read_battery,
    read_heading,
    read_speed,
    scaled,
    to_float,
)
from harbor_fleet.domain.fixes import Fix
from harbor_fleet.domain.times import MICROS


@dataclass(frozen=True, slots=True)
class OwnTracksReport:
    kind: str  # the `_type`, or "unknown"
    fix: Fix | None  # only for kind "location"
    battery: float | None  # percent, 0..100
    rejected: str | None = None


def parse_owntracks(body: object, now_micros: int) -> OwnTracksReport:
    """Read an OwnTracks HTTP-mode body (owntracks/booklet docs/tech/json.md).

    Any JSON object gives its `_type` as `kind` (a string of at most 64 characters, else "unknown");
    anything else, an empty object included, is kind "unknown" with nothing to reject. `encrypted` is
    reported as such: decryption is not done here. Only `location` can carry a fix:
    - `lat`, `lon` (degrees) and `tst` (Unix seconds of the fix) are required. `tst` does not fall back
      to `created_at`: that is when the app built the message, which may be long after the fix
      (booklet json.md), and the app never sends a location without `tst` (owntracks/android
      MessageLocation.kt isValidMessage wants tst > 0). So `now_micros` is not needed today; it is
      taken for the same shape as parse_osmand.
    - `vel` km/h, `cog` degrees, `acc` metres: the apps omit them when zero (booklet), so `acc` 0 is
      "not reported" (None); unusable values become None. `batt` percent. `alt`, `SSID`/`ssid`,
      `BSSID`/`bssid`, `tid`, `t`, `conn` and the rest: ignored.
    """
    if not isinstance(body, dict):
        return OwnTracksReport("unknown", None, None)
    given_type = body.get("_type")
    kind = given_type if isinstance(given_type, str) and 0 < len(given_type) <= MAX_VALUE_CHARS else "unknown"
    if kind != "location":
        return OwnTracksReport(kind, None, None)
    battery = read_battery(json_number(body.get("batt")))
    try:
        fix = _owntracks_fix(body)
    except Rejected as rejection:
        return OwnTracksReport(kind, None, battery, rejection.reason)
    return OwnTracksReport(kind, fix, battery)


def _owntracks_fix(body: Mapping[str, object]) -> Fix:
    lat = json_coordinate(body.get("lat"), "lat")
    lng = json_coordinate(body.get("lon"), "lng")
    return Fix(
        UNASSIGNED,
        recorded_at=_owntracks_time(body.get("tst")),
        lat=lat,
        lng=lng,
        speed_kmh=read_speed(json_number(body.get("vel")), Decimal(1)),
        heading_deg=read_heading(to_float(json_number(body.get("cog")))),
        accuracy_m=in_range(to_float(json_number(body.get("acc"))), "accuracy_m") or None,
    )


def _owntracks_time(value: object) -> int:
    if value is None:
        raise Rejected("tst_missing")
    seconds = json_number(value)
    if seconds is None:
        raise Rejected("tst_not_a_number")
    micros = scaled(seconds, Decimal(MICROS))
    if micros is None or seconds <= 0 or not EARLIEST <= micros <= LATEST:
        raise Rejected("tst_out_of_range")
    return int(micros)  # truncated, as times.py does: a fix never moves into the next second


def owntracks_location(fleet_id: str, fix: Fix) -> dict[str, object]:
    """Another vehicle's latest fix as an OwnTracks location message, for the app's own map: the app keys
    its contacts by `topic` and labels them with `tid` (owntracks/booklet `docs/tech/json.md`)."""
    message: dict[str, object] = {
        "_type": "location",
        "topic": f"owntracks/{fleet_id}/{fix.vehicle_id}",
        "tid": "".join(character for character in fix.vehicle_id if character.isalnum())[-2:],
        "lat": fix.lat,
        "lon": fix.lng,
        "tst": fix.recorded_at // MICROS,
    }
    optional = {"vel": fix.speed_kmh, "cog": fix.heading_deg, "acc": fix.accuracy_m}
    message.update({name: round(value) for name, value in optional.items() if value is not None})
    return message
