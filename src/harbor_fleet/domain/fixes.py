"""A GPS fix, and the rules an ingest body must follow (DESIGN 2.1, 2.8).

Validation collects every problem, so a partner learns all that is wrong with a request at once.
"""

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import NamedTuple

from harbor_fleet.domain.ids import is_identifier
from harbor_fleet.domain.times import MICROS, parse_instant

MAX_FIXES_PER_REQUEST = 1000
MAX_JSON_DEPTH = 32
FUTURE_TOLERANCE_MICROS = 60 * MICROS
FIX_FIELDS = frozenset({"vehicle_id", "lat", "lng", "recorded_at", "speed_kmh", "heading_deg", "accuracy_m"})
# Field name -> (lowest allowed, highest allowed, whether the highest is excluded).
RANGES: dict[str, tuple[float, float, bool]] = {
    "lat": (-90.0, 90.0, False),
    "lng": (-180.0, 180.0, False),
    "speed_kmh": (0.0, 2000.0, False),
    "heading_deg": (0.0, 360.0, True),
    "accuracy_m": (0.0, math.inf, False),
}


class Fix(NamedTuple):
    vehicle_id: str
    recorded_at: int  # microseconds since the Unix epoch
    lat: float
    lng: float
    speed_kmh: float | None = None
    heading_deg: float | None = None
    accuracy_m: float | None = None


@dataclass(frozen=True, slots=True)
class FixError:
    index: int | None
    field: str
    message: str


@dataclass(frozen=True, slots=True)
class TimeWindow:
    """The recorded_at values a fleet accepts right now."""

    oldest: int
    newest: int

    def contains(self, instant: int) -> bool:
        return self.oldest <= instant <= self.newest

    @classmethod
    def at(cls, now: int, retention_days: int) -> "TimeWindow":
        return cls(oldest=now - retention_days * 86_400 * MICROS, newest=now + FUTURE_TOLERANCE_MICROS)


class TooDeep(Exception):
    """JSON nested deeper than 32 levels."""


class RepeatedKeys(dict[str, object]):
    """A JSON object that named some keys more than once (`repeated`, in order); it holds the last
    value of each. A body with such an object is refused: which value was meant is anyone's guess."""

    def __init__(self, pairs: list[tuple[str, object]], repeated: list[str]) -> None:
        super().__init__(pairs)
        self.repeated = repeated


def _repeated_problems(value: object, index: int | None) -> list[FixError]:
    if not isinstance(value, RepeatedKeys):
        return []
    message = "the key {} appears more than once"
    if index is None:
        return [FixError(None, "fixes", message.format(_quote(key))) for key in value.repeated]
    return [FixError(index, _clip(key), message.format(_quote(key))) for key in value.repeated]


def parse_body(body: object, window: TimeWindow) -> list[Fix] | list[FixError]:
    """The fixes of an ingest body, or every problem found in it."""
    fixes_value = _fixes_list(body)
    if isinstance(fixes_value, FixError):
        return [fixes_value]
    fixes: list[Fix] = []
    errors: list[FixError] = []
    for index, item in enumerate(fixes_value):
        outcome = parse_fix(index, item, window)
        if isinstance(outcome, Fix):
            fixes.append(outcome)
        else:
            errors.extend(outcome)
    return errors or fixes


def _fixes_list(body: object) -> list[object] | FixError:
    def problem(message: str) -> FixError:
        return FixError(None, "fixes", message)

    if not isinstance(body, dict):
        _check_depth(body, 1)
        return problem('the body must be a JSON object with a "fixes" list')
    repeated = _repeated_problems(body, None)
    if repeated:
        _check_depth(body, 1)
        return repeated[0]
    extra = sorted(key for key in body if key != "fixes")
    if extra:
        _check_depth(body, 1)
        return problem(f'unknown top-level key {_quote(extra[0])}; only "fixes" is allowed')
    fixes = body.get("fixes")
    if not isinstance(fixes, list):
        _check_depth(body, 1)
        return problem('"fixes" must be a list of fixes')
    if not fixes:
        return problem('"fixes" must hold at least one fix')
    if len(fixes) > MAX_FIXES_PER_REQUEST:
        _check_depth(body, 1)
        return problem(f'"fixes" holds {len(fixes)} fixes; at most {MAX_FIXES_PER_REQUEST} are allowed')
    return fixes


def parse_fix(index: int, item: object, window: TimeWindow) -> Fix | list[FixError]:
    if not isinstance(item, dict):
        _check_depth(item, 3)
        return [FixError(index, "fixes", "each fix must be a JSON object")]
    errors = _repeated_problems(item, index)
    errors += [FixError(index, field, message) for field, message in _fix_problems(item, window)]
    if errors:
        return errors
    return Fix(
        vehicle_id=item["vehicle_id"],
        recorded_at=parse_instant(item["recorded_at"]) or 0,
        lat=float(item["lat"]),
        lng=float(item["lng"]),
        speed_kmh=_optional_float(item.get("speed_kmh")),
        heading_deg=_optional_float(item.get("heading_deg")),
        accuracy_m=_optional_float(item.get("accuracy_m")),
    )


def _fix_problems(item: Mapping[str, object], window: TimeWindow) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    for key, value in item.items():
        _check_depth(value, 4)
        if key not in FIX_FIELDS:
            problems.append((_clip(key), f"unknown field {_quote(key)}"))
    if not is_identifier(item.get("vehicle_id")):
        problems.append(("vehicle_id", "required: 1-64 characters of A-Z a-z 0-9 . _ : -, starting alphanumeric"))
    for field, (low, high, high_excluded) in RANGES.items():
        message = _number_problem(item.get(field, None), field in ("lat", "lng"), low, high, high_excluded)
        if message:
            problems.append((field, message))
    message = _time_problem(item.get("recorded_at"), window)
    if message:
        problems.append(("recorded_at", message))
    return problems


def _number_problem(value: object, required: bool, low: float, high: float, high_excluded: bool) -> str:
    if value is None:
        return "required" if required else ""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "must be a JSON number"
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        return "must be a finite number"
    upper = f"below {high:g}" if high_excluded else f"at most {high:g}"
    if number < low or number > high or (high_excluded and number == high):
        return f"must be at least {low:g} and {upper}" if math.isfinite(high) else f"must be at least {low:g}"
    return ""


def _time_problem(value: object, window: TimeWindow) -> str:
    if not isinstance(value, str):
        return "required: an RFC 3339 time with an offset"
    instant = parse_instant(value)
    if instant is None:
        return "must be an RFC 3339 time with an offset, e.g. 2026-11-26T09:30:00Z"
    if instant > window.newest:
        return "is more than 60 s in the future"
    if instant < window.oldest:
        return "is older than the fleet's retention"
    return ""


def _optional_float(value: object) -> float | None:
    return None if value is None else float(value)  # type: ignore[arg-type]


def _check_depth(value: object, level: int) -> None:
    """Raise TooDeep when a container at nesting `level` (the body is level 1) nests past the limit."""
    if not isinstance(value, (dict, list)):
        return
    if level > MAX_JSON_DEPTH:
        raise TooDeep
    for child in value.values() if isinstance(value, dict) else value:
        _check_depth(child, level + 1)


def _quote(key: str) -> str:
    return '"' + _clip(key) + '"'


def _clip(key: str) -> str:
    return key if len(key) <= 64 else key[:61] + "..."
