"""Decoding an ingest body into fixes.

The common case, a valid body, takes a strict typed decode (msgspec checks types, ranges, identifiers
and unknown keys in C, with the limits of the domain's rules). When that decode finds anything wrong,
the domain's own validation runs over the generic decode instead, so that every problem is reported
with its index and field.
"""

import math
from typing import Annotated, Any

import msgspec
from msgspec import Meta

from harbor_fleet.domain.fixes import RANGES, Fix, FixError, TimeWindow, TooDeep, parse_body
from harbor_fleet.domain.ids import IDENTIFIER_PATTERN
from harbor_fleet.domain.times import parse_instant
from harbor_fleet.service.errors import InvalidFixes, MalformedJson

MAX_FIXES = 1000


def _bounded(field: str) -> Any:
    low, high, high_excluded = RANGES[field]
    if not math.isfinite(high):
        return Annotated[float, Meta(ge=low)]
    return Annotated[float, Meta(ge=low, lt=high) if high_excluded else Meta(ge=low, le=high)]


_FixIn = msgspec.defstruct(
    "_FixIn",
    [
        ("vehicle_id", Annotated[str, Meta(pattern=f"^{IDENTIFIER_PATTERN}\\Z")]),
        ("lat", _bounded("lat")),
        ("lng", _bounded("lng")),
        ("recorded_at", str),
        ("speed_kmh", _bounded("speed_kmh") | None, None),
        ("heading_deg", _bounded("heading_deg") | None, None),
        ("accuracy_m", _bounded("accuracy_m") | None, None),
    ],
    forbid_unknown_fields=True,
)
_BodyIn = msgspec.defstruct(
    "_BodyIn",
    [("fixes", Annotated[list[_FixIn], Meta(min_length=1, max_length=MAX_FIXES)])],  # type: ignore[valid-type]
    forbid_unknown_fields=True,
)
_typed = msgspec.json.Decoder(_BodyIn)
# float_hook keeps an overflowing number as inf (a 422 on its field) instead of failing the document.
_generic = msgspec.json.Decoder(float_hook=float)


def decode_fixes(body: bytes, window: TimeWindow) -> list[Fix]:
    """The fixes of `body`; MalformedJson (400) or InvalidFixes (422) otherwise."""
    try:
        typed: Any = _typed.decode(body)
    except msgspec.ValidationError:
        return _decode_thoroughly(body, window)
    except (msgspec.DecodeError, RecursionError) as error:
        raise MalformedJson(f"the body is not valid JSON: {error}") from error
    fixes = []
    for raw in typed.fixes:
        instant = parse_instant(raw.recorded_at)
        if instant is None or not window.contains(instant):
            return _decode_thoroughly(body, window)
        fixes.append(Fix(raw.vehicle_id, instant, raw.lat, raw.lng, raw.speed_kmh, raw.heading_deg, raw.accuracy_m))
    return fixes


def _decode_thoroughly(body: bytes, window: TimeWindow) -> list[Fix]:
    try:
        document = _generic.decode(body)
    except (msgspec.DecodeError, RecursionError) as error:
        raise MalformedJson(f"the body is not valid JSON: {error}") from error
    try:
        parsed = parse_body(document, window)
    except TooDeep as error:
        raise MalformedJson("the body nests deeper than 32 levels") from error
    if parsed and isinstance(parsed[0], FixError):
        raise InvalidFixes(parsed)
    return parsed  # type: ignore[return-value]
