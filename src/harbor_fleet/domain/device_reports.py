"""What the phone apps send, turned into Harbor fixes (DESIGN 1 "device endpoints", 2.9). Pure: no I/O.

Two apps, each read from its own source (formats learnt there, nothing copied):

- Traccar Client speaks the OsmAnd protocol. The server side that defines it is traccar/traccar
  src/main/java/org/traccar/protocol/OsmAndProtocolDecoder.java (every parameter name and form,
  and the JSON form). The clients that build the requests:
  - traccar/traccar-client-android app/src/main/java/org/traccar/client/ProtocolFormatter.kt and
    RequestManager.kt: a POST with the parameters in the query string and an empty body;
    Position.kt: speed in knots, `accuracy=0.0` for the GPS provider (accuracy not reported).
  - traccar/traccar-client-ios TraccarClient/ProtocolFormatter.swift, RequestManager.swift: the same
    POST; `lat`/`lon` as `%.06f`, `charge=true` when charging.
  - traccar/traccar-client lib/preferences.dart (2025 - early 2026, flutter_background_geolocation):
    a JSON body `{"location": {...}, "device_id": ...}`, speed in m/s, -1 for unknown values.
  - traccar/traccar-client-sdk core/src/commonMain/kotlin/org/traccar/client/HttpUploader.kt (the
    app's current engine): a form-encoded POST with the same names as the query form.
- OwnTracks in HTTP mode POSTs one JSON object with a `_type`: owntracks/booklet docs/tech/json.md,
  and owntracks/android .../model/messages/MessageLocation.kt for what the app really writes.

The endpoint decides what to do with a report; here only the request is read. Values are bounded:
a request value longer than 64 characters is ignored, or rejects the fix when it is a coordinate or
a time. `rejected` is always one of REJECTION_REASONS (a fixed set, so it can be a metric label).
"""

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from harbor_fleet.domain.fixes import RANGES, Fix
from harbor_fleet.domain.times import MICROS, parse_instant

Params = Mapping[str, str] | Sequence[tuple[str, str]]

MAX_VALUE_CHARS = 64
REJECTION_REASONS = frozenset(
    {
        "body_not_an_object",
        "item_not_an_object",
        "location_not_an_object",
        "coords_not_an_object",
        "location_malformed",
        "lat_missing",
        "lat_not_a_number",
        "lat_out_of_range",
        "lat_too_long",
        "lng_missing",
        "lng_not_a_number",
        "lng_out_of_range",
        "lng_too_long",
        "timestamp_unparseable",
        "timestamp_out_of_range",
        "timestamp_too_long",
        "tst_missing",
        "tst_not_a_number",
        "tst_out_of_range",
    }
)

# Both conversions are exact by definition (1 kn = 1852 m/h); Decimal keeps the product exact
# until the one final rounding to float, so 10 kn is exactly the float 18.52.
_KNOTS_TO_KMH = Decimal("1.852")
_MPS_TO_KMH = Decimal("3.6")
_SECONDS_BELOW = 2**31  # OsmAnd: an integer timestamp below this is seconds, else milliseconds
_EARLIEST = -62_135_596_800 * MICROS  # 0001-01-01T00:00:00Z, as times.parse_instant allows
_LATEST = 253_402_300_799_999_999  # 9999-12-31T23:59:59.999999Z
_FAR = Decimal(10**15)  # beyond every range below (Unix seconds of year 9999: 2.5e11)
# Strict on purpose: Python's float() would also take "nan", "inf", "1_000" and surrounding spaces.
_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_EPOCH_NUMBER = re.compile(r"[+-]?[0-9]{1,19}")  # what Java's Long.parseLong takes
_WALL_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?")


UNASSIGNED = ""  # the vehicle of a phone's fix until the endpoint gives it its credential's


def for_vehicle(fix: Fix, vehicle_id: str) -> Fix:
    """A phone's fix as its credential's vehicle: the endpoint never takes the vehicle from the phone."""
    return fix._replace(vehicle_id=vehicle_id)


@dataclass(frozen=True, slots=True)
class OsmandReport:
    device_id: str | None  # what the phone calls itself; the endpoint may compare it, never trusts it
    fix: Fix | None  # None: a heartbeat (no coordinates), or rejected
    battery: float | None  # percent, 0..100
    rejected: str | None = None  # a REJECTION_REASONS member when the position cannot be a fix
    at: int | None = None  # without a fix: when the report was taken, if it says so readably

    @property
    def time(self) -> int | None:
        return self.fix.recorded_at if self.fix is not None else self.at


@dataclass(frozen=True, slots=True)
class OwnTracksReport:
    kind: str  # the `_type`, or "unknown"
    fix: Fix | None  # only for kind "location"
    battery: float | None  # percent, 0..100
    rejected: str | None = None


class _Rejected(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# --- OsmAnd (Traccar Client) ---------------------------------------------------------------------


def parse_osmand(query: Params, form: Params, json_body: object | None, now_micros: int) -> OsmandReport:
    """Read an OsmAnd request: the JSON form when `json_body` is given, else the query and form parameters.

    Query and form are merged and the form wins a name both carry: the form is the app's data for this
    fix, while a query on a form POST is whatever the user typed into the server URL. (Traccar's
    decoder reads the body only when the query is empty; with the merge a URL that carries its own
    query still works with the form-posting client.) A name given twice: the last value counts, as in
    Traccar's decoder. Names are case-sensitive, as the apps send them.

    - `id`, or else `deviceid`: the device id.
    - Position: `lat` and `lon`, or else `location=lat,lon`. Neither: a heartbeat (fix None). One of
      `lat`/`lon` without the other, non-numeric or out of range: rejected.
    - `timestamp`: an integer below 2^31 is Unix seconds, any other integer milliseconds (Traccar
      compares with Integer.MAX_VALUE, 2^31 - 1; the two differ only for 2^31 - 1 itself). A string
      with a `T` is RFC 3339 with an offset (`Z` or +hh:mm). Otherwise `yyyy-MM-dd HH:mm:ss`
      (fractional seconds allowed), read as UTC: Traccar reads it in the server's own zone, which a
      phone cannot know, and UTC is the only zone that does not depend on where we run. Absent:
      `now_micros`.
    - `speed` in knots (the apps convert from m/s), `bearing` or else `heading` in degrees,
      `accuracy` in metres, where 0 means not reported (Android sends 0.0 for GPS fixes). A value
      that is unusable or out of the Fix's range becomes None and the position is kept; a negative
      heading is unknown, a heading of 360 or more is taken modulo 360.
    - `batt`: battery percent. `altitude`, `charge`, `alarm`, `hdop`, `valid` and the rest: ignored.
    """
    if json_body is not None:
        return _osmand_json(json_body, now_micros)
    return _osmand_params(_merge(query, form), now_micros)


def parse_osmand_batch(items: Sequence[object], now_micros: int) -> list[OsmandReport]:
    """Read the Traccar Client SDK's JSON upload (`uploadJson`, traccar/traccar-client-sdk
    core/src/commonMain/kotlin/org/traccar/client/HttpUploader.kt): a JSON array of flat objects, one per
    position, with the query form's names and units (`id`, `lat`, `lon`, `timestamp` in seconds, `speed`
    in knots, `batt`, `charge` a boolean, ...). Each is read as parse_osmand reads a query; an item that is
    not an object is rejected (`item_not_an_object`). A value that is an object, an array or null is
    absent."""
    return [_osmand_item(item, now_micros) for item in items]


def _osmand_item(item: object, now_micros: int) -> OsmandReport:
    if not isinstance(item, dict):
        return OsmandReport(None, None, None, "item_not_an_object")
    params = {name: text for name, value in item.items() if (text := _json_text(value)) is not None}
    return _osmand_params(params, now_micros)


def _json_text(value: object) -> str | None:
    """A JSON scalar as the query form would carry it: the digits sent for a number (repr keeps them)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else None
    return None


def _osmand_params(params: Mapping[str, str], now_micros: int) -> OsmandReport:
    device_id = _short(params, "id") or _short(params, "deviceid")
    battery = _battery(_text_number(_short(params, "batt")))
    try:
        fix = _osmand_fix(params, now_micros)
    except _Rejected as rejection:
        return OsmandReport(
            device_id, None, battery, rejection.reason, _time_or_none(_text_time, params.get("timestamp"))
        )
    at = None if fix is not None else _time_or_none(_text_time, params.get("timestamp"))
    return OsmandReport(device_id, fix, battery, at=at)


def _time_or_none(read: Callable[[str], int], value: object) -> int | None:
    """A report's own time, when it says one that can be read (a heartbeat's battery is dated by it);
    `value` is at most MAX_VALUE_CHARS long or not read."""
    if not isinstance(value, str) or len(value) > MAX_VALUE_CHARS:
        return None
    try:
        return read(value)
    except _Rejected:
        return None


def _merge(query: Params, form: Params) -> dict[str, str]:
    merged: dict[str, str] = {}
    for params in (query, form):
        merged.update(params.items() if isinstance(params, Mapping) else params)
    return merged


def _short(params: Mapping[str, str], name: str) -> str | None:
    """An optional value: one too long is ignored, as if absent."""
    value = params.get(name)
    return value if value is not None and len(value) <= MAX_VALUE_CHARS else None


def _bounded(params: Mapping[str, str], name: str, field: str) -> str | None:
    """A value the fix depends on: one too long rejects the fix rather than being silently dropped."""
    value = params.get(name)
    if value is not None and len(value) > MAX_VALUE_CHARS:
        raise _Rejected(f"{field}_too_long")
    return value


def _osmand_fix(params: Mapping[str, str], now_micros: int) -> Fix | None:
    position = _query_position(params)
    if position is None:
        return None
    timestamp = _bounded(params, "timestamp", "timestamp")
    heading = _short(params, "bearing") or _short(params, "heading")
    accuracy = _in_range(_to_float(_text_number(_short(params, "accuracy"))), "accuracy_m")
    return Fix(
        UNASSIGNED,
        recorded_at=now_micros if timestamp is None else _text_time(timestamp),
        lat=position[0],
        lng=position[1],
        speed_kmh=_speed(_text_number(_short(params, "speed")), _KNOTS_TO_KMH),
        heading_deg=_heading(_to_float(_text_number(heading))),
        accuracy_m=accuracy or None,  # 0 is "not reported", never a perfect fix
    )


def _query_position(params: Mapping[str, str]) -> tuple[float, float] | None:
    lat = _bounded(params, "lat", "lat")
    lon = _bounded(params, "lon", "lng")
    if lat is None and lon is None:
        location = _bounded(params, "location", "lat")
        if location is None:
            return None
        lat, lon = _split_location(location)
    return _text_coordinate(lat, "lat"), _text_coordinate(lon, "lng")


def _split_location(value: str) -> tuple[str, str]:
    parts = value.split(",")
    if len(parts) != 2:
        raise _Rejected("location_malformed")
    return parts[0].strip(), parts[1].strip()


def _text_coordinate(text: str | None, field: str) -> float:
    return _coordinate(text, _text_number, field)


def _text_time(text: str) -> int:
    if _EPOCH_NUMBER.fullmatch(text):
        number = int(text)
        micros: int | None = number * MICROS if number < _SECONDS_BELOW else number * 1000
    elif "T" in text:
        micros = parse_instant(text)
    elif _WALL_TIME.fullmatch(text):
        micros = parse_instant(text + "Z")  # the wall time, read as UTC
    else:
        micros = None
    if micros is None:
        raise _Rejected("timestamp_unparseable")
    if not _EARLIEST <= micros <= _LATEST:
        raise _Rejected("timestamp_out_of_range")
    return micros


def _osmand_json(body: object, now_micros: int) -> OsmandReport:
    """The JSON form: `{"device_id", "location": {"timestamp", "coords": {...}, "battery": {...}}}`.

    From traccar/traccar-client lib/preferences.dart (its location template) and the server's
    OsmAndProtocolDecoder.decodeJson. Only the JSON is read (as Traccar does). No `coords`: a heartbeat.
    `speed` is m/s; -1 (any negative) is unknown for speed, heading, accuracy and battery level;
    `battery.level` is 0..1. A body that is not an object or has no `location` object is rejected: it
    is no heartbeat, it is a request we cannot read (the SDK's batch upload, a JSON array, is read by
    parse_osmand_batch).
    """
    if not isinstance(body, dict):
        return OsmandReport(None, None, None, "body_not_an_object")
    given_id = body.get("device_id")
    device_id = given_id if isinstance(given_id, str) and len(given_id) <= MAX_VALUE_CHARS else None
    location = body.get("location")
    if not isinstance(location, dict):
        return OsmandReport(device_id, None, None, "location_not_an_object")
    battery = _json_battery(location.get("battery"))

    def said_time() -> int | None:
        return _time_or_none(lambda text: _json_time(text, now_micros), location.get("timestamp"))

    try:
        fix = _json_fix(location, now_micros)
    except _Rejected as rejection:
        return OsmandReport(device_id, None, battery, rejection.reason, said_time())
    return OsmandReport(device_id, fix, battery, at=None if fix is not None else said_time())


def _json_fix(location: Mapping[str, object], now_micros: int) -> Fix | None:
    coords = location.get("coords")
    if coords is None:
        return None
    if not isinstance(coords, dict):
        raise _Rejected("coords_not_an_object")
    lat = _json_coordinate(coords.get("latitude"), "lat")
    lng = _json_coordinate(coords.get("longitude"), "lng")
    return Fix(
        UNASSIGNED,
        recorded_at=_json_time(location.get("timestamp"), now_micros),
        lat=lat,
        lng=lng,
        speed_kmh=_speed(_json_number(coords.get("speed")), _MPS_TO_KMH),
        heading_deg=_heading(_to_float(_json_number(coords.get("heading")))),
        accuracy_m=_in_range(_to_float(_json_number(coords.get("accuracy"))), "accuracy_m"),
    )


def _json_time(value: object, now_micros: int) -> int:
    if value is None:
        return now_micros
    if not isinstance(value, str):
        raise _Rejected("timestamp_unparseable")
    if len(value) > MAX_VALUE_CHARS:
        raise _Rejected("timestamp_too_long")
    return _text_time(value)


def _json_battery(battery: object) -> float | None:
    if not isinstance(battery, dict):
        return None
    return _battery(_scaled(_json_number(battery.get("level")), Decimal(100)))


# --- OwnTracks -----------------------------------------------------------------------------------


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
    battery = _battery(_json_number(body.get("batt")))
    try:
        fix = _owntracks_fix(body)
    except _Rejected as rejection:
        return OwnTracksReport(kind, None, battery, rejection.reason)
    return OwnTracksReport(kind, fix, battery)


def _owntracks_fix(body: Mapping[str, object]) -> Fix:
    lat = _json_coordinate(body.get("lat"), "lat")
    lng = _json_coordinate(body.get("lon"), "lng")
    return Fix(
        UNASSIGNED,
        recorded_at=_owntracks_time(body.get("tst")),
        lat=lat,
        lng=lng,
        speed_kmh=_speed(_json_number(body.get("vel")), Decimal(1)),
        heading_deg=_heading(_to_float(_json_number(body.get("cog")))),
        accuracy_m=_in_range(_to_float(_json_number(body.get("acc"))), "accuracy_m") or None,
    )


def _owntracks_time(value: object) -> int:
    if value is None:
        raise _Rejected("tst_missing")
    seconds = _json_number(value)
    if seconds is None:
        raise _Rejected("tst_not_a_number")
    micros = _scaled(seconds, Decimal(MICROS))
    if micros is None or seconds <= 0 or not _EARLIEST <= micros <= _LATEST:
        raise _Rejected("tst_out_of_range")
    return int(micros)  # truncated, as times.py does: a fix never moves into the next second


# --- Numbers -------------------------------------------------------------------------------------


def _text_number(text: str | None) -> Decimal | None:
    return Decimal(text) if text is not None and _NUMBER.fullmatch(text) else None


def _json_number(value: object) -> Decimal | None:
    """A JSON number as an exact Decimal; booleans, strings and NaN are not numbers."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    number = Decimal(value) if isinstance(value, int) else Decimal(repr(value))  # repr: the digits sent
    return number if number.is_finite() else None


def _scaled(number: Decimal | None, factor: Decimal) -> Decimal | None:
    """`number * factor`, or None when `number` is far beyond every range here: Decimal arithmetic
    raises on overflow, and a 64-character value can carry an exponent of 60 digits."""
    if number is None or number.copy_abs() >= _FAR:  # copy_abs: no context, cannot overflow
        return None
    return number * factor


def _to_float(number: Decimal | None) -> float | None:
    return None if number is None else float(number)  # a huge Decimal becomes inf, caught by the ranges


def _json_coordinate(value: object, field: str) -> float:
    return _coordinate(value, _json_number, field)


def _coordinate(value: Any, read: Callable[[Any], Decimal | None], field: str) -> float:
    """A required latitude or longitude, read with `read` (the query's text rules or JSON's)."""
    if value is None:
        raise _Rejected(f"{field}_missing")
    number = read(value)
    if number is None:
        raise _Rejected(f"{field}_not_a_number")
    if _in_range(float(number), field) is None:
        raise _Rejected(f"{field}_out_of_range")
    return float(number)


def _in_range(value: float | None, field: str) -> float | None:
    """`value` when the Fix accepts it for `field` (RANGES, and finite), else None."""
    if value is None or not math.isfinite(value):
        return None
    low, high, high_excluded = RANGES[field]
    if value < low or value > high or (high_excluded and value == high):
        return None
    return value


def _speed(number: Decimal | None, to_kmh: Decimal) -> float | None:
    return _in_range(_to_float(_scaled(number, to_kmh)), "speed_kmh")


def _heading(value: float | None) -> float | None:
    if value is None or not math.isfinite(value) or value < 0:
        return None  # negative is the apps' "unknown" (CoreLocation, flutter_background_geolocation)
    return _in_range(value % 360.0, "heading_deg")


def _battery(number: Decimal | None) -> float | None:
    """Percent, to a hundredth: finer is noise, and PostgreSQL's `real` cannot hold every tiny value."""
    if number is None or not 0 <= number <= 100:
        return None
    return float(round(number, 2))


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
