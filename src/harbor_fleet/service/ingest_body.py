"""Decoding an ingest body into fixes.

The common case, a valid body, takes a strict typed decode (msgspec checks types, ranges, identifiers
and unknown keys in C, with the limits of the domain's rules). When that decode finds anything wrong,
the domain's own validation runs over the generic decode instead, so that every problem is reported
with its index and field.

A key given twice in one object is refused (422): the typed decode would silently keep the last value.
Counting the body's members tells whether it could hold a repeat: with no backslash in the body (an
escape could hide a colon) every colon outside the strings starts a member, so a body whose colons
are exactly the members the typed decode saw has no repeated key (nor an explicit null). Any other
body takes the thorough path, whose decode marks objects with repeated keys.
"""

import json
import math
from typing import Annotated, Any

import msgspec
from msgspec import Meta

from harbor_fleet.domain.fixes import RANGES, Fix, FixError, RepeatedKeys, TimeWindow, TooDeep, parse_body
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


def decode_fixes(body: bytes, window: TimeWindow) -> list[Fix]:
    """The fixes of `body`; MalformedJson (400) or InvalidFixes (422) otherwise."""
    try:
        typed: Any = _typed.decode(body)
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):  # ValidationError is a DecodeError
        return _decode_thoroughly(body, window)
    fixes = []
    members = 1  # "fixes"
    colons_in_strings = 0
    for raw in typed.fixes:
        instant = parse_instant(raw.recorded_at)
        if instant is None or not window.contains(instant):
            return _decode_thoroughly(body, window)
        fixes.append(Fix(raw.vehicle_id, instant, raw.lat, raw.lng, raw.speed_kmh, raw.heading_deg, raw.accuracy_m))
        members += 4 + (raw.speed_kmh is not None) + (raw.heading_deg is not None) + (raw.accuracy_m is not None)
        colons_in_strings += raw.vehicle_id.count(":") + raw.recorded_at.count(":")
    if b"\\" in body or body.count(b":") - colons_in_strings != members:
        return _decode_thoroughly(body, window)
    return fixes


def _decode_thoroughly(body: bytes, window: TimeWindow) -> list[Fix]:
    try:
        parsed = parse_body(_document(body), window)
    except TooDeep as error:
        raise MalformedJson("the body nests deeper than 32 levels") from error
    if parsed and isinstance(parsed[0], FixError):
        raise InvalidFixes(parsed)
    return parsed  # type: ignore[return-value]


def _document(body: bytes) -> object:
    """The body as a JSON document with repeated keys marked; MalformedJson for what is not JSON:
    invalid UTF-8, NaN and Infinity, lone surrogates. Integers become floats (no digit limit; the rules
    compare numbers only), so a huge one is a 422 on its field, like any number out of range."""
    try:
        text = body.decode("utf-8")
        document = json.loads(text, object_pairs_hook=_object, parse_int=float, parse_constant=_not_json)
        if "\\u" in text:  # an escape may have made a lone surrogate, which is not text
            json.dumps(document, ensure_ascii=False).encode("utf-8")
    except (ValueError, RecursionError) as error:  # JSONDecodeError and UnicodeError are ValueErrors
        raise MalformedJson(f"the body is not valid JSON: {str(error)[:200]}") from error
    return document


def _not_json(constant: str) -> object:
    raise ValueError(f"{constant} is not JSON")


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: set[str] = set()
    repeated = [key for key, _ in pairs if key in seen or seen.add(key)]  # type: ignore[func-returns-value]
    return RepeatedKeys(pairs, list(dict.fromkeys(repeated))) if repeated else dict(pairs)
