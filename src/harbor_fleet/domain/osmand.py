"""Traccar Client's reports (the OsmAnd protocol) read into fixes. Pure: no I/O.

The server side that defines the protocol is traccar/traccar
src/main/java/org/traccar/protocol/OsmAndProtocolDecoder.java (every parameter name and form, and the
JSON form). The clients that build the requests (formats learnt there, nothing copied):
- traccar/traccar-client-android app/src/main/java/org/traccar/client/ProtocolFormatter.kt and
  RequestManager.kt: a POST with the parameters in the query string and an empty body;
  Position.kt: speed in knots, `accuracy=0.0` for the GPS provider (accuracy not reported).
- traccar/traccar-client-ios TraccarClient/ProtocolFormatter.swift, RequestManager.swift: the same
  POST; `lat`/`lon` as `%.06f`, `charge=true` when charging.
- traccar/traccar-client lib/preferences.dart (2025 - early 2026, flutter_background_geolocation):
  a JSON body `{"location": {...}, "device_id": ...}`, speed in m/s, -1 for unknown values.
- traccar/traccar-client-sdk core/src/commonMain/kotlin/org/traccar/client/HttpUploader.kt (the
  app's current engine): a form-encoded POST with the same names as the query form, or with its
  `uploadJson` option a JSON array of such positions.
"""

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from harbor_fleet.domain.device_reports import (
    EARLIEST,
    LATEST,
    MAX_VALUE_CHARS,
    UNASSIGNED,
    Rejected,
    coordinate,
    in_range,
    json_coordinate,
    json_number,
    read_battery,
    read_heading,
    read_speed,
    scaled,
    text_number,
    to_float,
)
from harbor_fleet.domain.fixes import Fix
from harbor_fleet.domain.times import MICROS, parse_instant

Params = Mapping[str, str] | Sequence[tuple[str, str]]

# Both conversions are exact by definition (1 kn = 1852 m/h); Decimal keeps the product exact
# until the one final rounding to float, so 10 kn is exactly the float 18.52.
_KNOTS_TO_KMH = Decimal("1.852")
_MPS_TO_KMH = Decimal("3.6")
_SECONDS_BELOW = 2**31  # OsmAnd: an integer timestamp below this is seconds, else milliseconds
_EPOCH_NUMBER = re.compile(r"[+-]?[0-9]{1,19}")  # what Java's Long.parseLong takes
_WALL_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?")


@dataclass(frozen=True, slots=True)
class OsmandReport:
    device_id: str | None  # what the phone calls itself; the endpoint may compare it, never trusts it
    fix: Fix | None  # None: a heartbeat (no coordinates), or rejected
    battery: float | None  # percent, 0..100
    rejected: str | None = None  # a REJECTION_REASONS member when the position cannot be a fix
    at: int | None = None  # without a fix: when the report was taken, if it says so readably


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
    device_id = _device_id(params.get("id") or params.get("deviceid"))
    battery = read_battery(text_number(_short(params, "batt")))
    return _reported(device_id, battery, lambda: _osmand_fix(params, now_micros), params.get("timestamp"))


def _reported(
    device_id: str | None, battery: float | None, read_fix: Callable[[], Fix | None], said_time: object
) -> OsmandReport:
    """The report of the fix `read_fix` reads (or rejects). One without a fix keeps the time the phone said,
    when it can be read: a heartbeat's (or a dropped fix's) battery reading is dated by it."""
    try:
        fix = read_fix()
    except Rejected as rejection:
        return OsmandReport(device_id, None, battery, rejection.reason, _time_or_none(said_time))
    return OsmandReport(device_id, fix, battery, at=None if fix is not None else _time_or_none(said_time))


def _device_id(value: object) -> str | None:
    """The id a phone names. One too long to be any credential is cut to MAX_VALUE_CHARS + 1 characters:
    it still names a device (an unknown one: 401, and in a batch a second device), and stays bounded."""
    return value[: MAX_VALUE_CHARS + 1] if isinstance(value, str) and value else None


def _time_or_none(value: object) -> int | None:
    """A time as the phone said it (any of the forms `timestamp` takes), or None when it cannot be read;
    `value` is at most MAX_VALUE_CHARS long or not read."""
    if not isinstance(value, str) or len(value) > MAX_VALUE_CHARS:
        return None
    try:
        return _text_time(value)
    except Rejected:
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
        raise Rejected(f"{field}_too_long")
    return value


def _osmand_fix(params: Mapping[str, str], now_micros: int) -> Fix | None:
    position = _query_position(params)
    if position is None:
        return None
    timestamp = _bounded(params, "timestamp", "timestamp")
    heading = _short(params, "bearing") or _short(params, "heading")
    accuracy = in_range(to_float(text_number(_short(params, "accuracy"))), "accuracy_m")
    return Fix(
        UNASSIGNED,
        recorded_at=now_micros if timestamp is None else _text_time(timestamp),
        lat=position[0],
        lng=position[1],
        speed_kmh=read_speed(text_number(_short(params, "speed")), _KNOTS_TO_KMH),
        heading_deg=read_heading(to_float(text_number(heading))),
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
        raise Rejected("location_malformed")
    return parts[0].strip(), parts[1].strip()


def _text_coordinate(text: str | None, field: str) -> float:
    return coordinate(text, text_number, field)


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
        raise Rejected("timestamp_unparseable")
    if not EARLIEST <= micros <= LATEST:
        raise Rejected("timestamp_out_of_range")
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
    device_id = _device_id(body.get("device_id"))
    location = body.get("location")
    if not isinstance(location, dict):
        return OsmandReport(device_id, None, None, "location_not_an_object")
    battery = _json_battery(location.get("battery"))
    return _reported(device_id, battery, lambda: _json_fix(location, now_micros), location.get("timestamp"))


def _json_fix(location: Mapping[str, object], now_micros: int) -> Fix | None:
    coords = location.get("coords")
    if coords is None:
        return None
    if not isinstance(coords, dict):
        raise Rejected("coords_not_an_object")
    lat = json_coordinate(coords.get("latitude"), "lat")
    lng = json_coordinate(coords.get("longitude"), "lng")
    return Fix(
        UNASSIGNED,
        recorded_at=_json_time(location.get("timestamp"), now_micros),
        lat=lat,
        lng=lng,
        speed_kmh=read_speed(json_number(coords.get("speed")), _MPS_TO_KMH),
        heading_deg=read_heading(to_float(json_number(coords.get("heading")))),
        accuracy_m=in_range(to_float(json_number(coords.get("accuracy"))), "accuracy_m"),
    )


def _json_time(value: object, now_micros: int) -> int:
    if value is None:
        return now_micros
    if not isinstance(value, str):
        raise Rejected("timestamp_unparseable")
    if len(value) > MAX_VALUE_CHARS:
        raise Rejected("timestamp_too_long")
    return _text_time(value)


def _json_battery(battery: object) -> float | None:
    if not isinstance(battery, dict):
        return None
    return read_battery(scaled(json_number(battery.get("level")), Decimal(100)))
