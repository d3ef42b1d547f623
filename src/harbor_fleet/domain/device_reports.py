"""What the phone apps send, turned into Harbor fixes (DESIGN 1 "device endpoints", 2.9): what both
protocols share. Pure: no I/O. Each protocol is read in its own module, from its app's own source:
osmand.py (Traccar Client) and owntracks.py (OwnTracks).

The endpoint decides what to do with a report; the parsers only read the request. Values are bounded:
a request value longer than 64 characters is ignored, or rejects the fix when it is a coordinate or
a time. A report's `rejected` is always one of REJECTION_REASONS (a fixed set, so it can be a metric label).
"""

import math
import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from harbor_fleet.domain.fixes import RANGES, Fix
from harbor_fleet.domain.times import MICROS

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

EARLIEST = -62_135_596_800 * MICROS  # 0001-01-01T00:00:00Z, as times.parse_instant allows
LATEST = 253_402_300_799_999_999  # 9999-12-31T23:59:59.999999Z
_FAR = Decimal(10**15)  # beyond every range below (Unix seconds of year 9999: 2.5e11)
# Strict on purpose: Python's float() would also take "nan", "inf", "1_000" and surrounding spaces.
_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


UNASSIGNED = ""  # the vehicle of a phone's fix until the endpoint gives it its credential's


def for_vehicle(fix: Fix, vehicle_id: str) -> Fix:
    """A phone's fix as its credential's vehicle: the endpoint never takes the vehicle from the phone."""
    return fix._replace(vehicle_id=vehicle_id)


class Rejected(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def text_number(text: str | None) -> Decimal | None:
    return Decimal(text) if text is not None and _NUMBER.fullmatch(text) else None


def json_number(value: object) -> Decimal | None:
    """A JSON number as an exact Decimal; booleans, strings and NaN are not numbers."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    number = Decimal(value) if isinstance(value, int) else Decimal(repr(value))  # repr: the digits sent
    return number if number.is_finite() else None


def scaled(number: Decimal | None, factor: Decimal) -> Decimal | None:
    """`number * factor`, or None when `number` is far beyond every range here: Decimal arithmetic
    raises on overflow, and a 64-character value can carry an exponent of 60 digits."""
    if number is None or number.copy_abs() >= _FAR:  # copy_abs: no context, cannot overflow
        return None
    return number * factor


def to_float(number: Decimal | None) -> float | None:
    return None if number is None else float(number)  # a huge Decimal becomes inf, caught by the ranges


def json_coordinate(value: object, field: str) -> float:
    return coordinate(value, json_number, field)


def coordinate(value: Any, read: Callable[[Any], Decimal | None], field: str) -> float:
    """A required latitude or longitude, read with `read` (the query's text rules or JSON's)."""
    if value is None:
        raise Rejected(f"{field}_missing")
    number = read(value)
    if number is None:
        raise Rejected(f"{field}_not_a_number")
    if in_range(float(number), field) is None:
        raise Rejected(f"{field}_out_of_range")
    return float(number)


def in_range(value: float | None, field: str) -> float | None:
    """`value` when the Fix accepts it for `field` (RANGES, and finite), else None."""
    if value is None or not math.isfinite(value):
        return None
    low, high, high_excluded = RANGES[field]
    if value < low or value > high or (high_excluded and value == high):
        return None
    return value


def read_speed(number: Decimal | None, to_kmh: Decimal) -> float | None:
    return in_range(to_float(scaled(number, to_kmh)), "speed_kmh")


def read_heading(value: float | None) -> float | None:
    if value is None or not math.isfinite(value) or value < 0:
        return None  # negative is the apps' "unknown" (CoreLocation, flutter_background_geolocation)
    return in_range(value % 360.0, "heading_deg")


def read_battery(number: Decimal | None) -> float | None:
    """Percent, to a hundredth: finer is noise, and PostgreSQL's `real` cannot hold every tiny value."""
    if number is None or not 0 <= number <= 100:
        return None
    return float(round(number, 2))
