"""The track endpoint's query: `from` (inclusive), `to` (exclusive), `limit` (DESIGN 2.8)."""

from collections.abc import Sequence
from dataclasses import dataclass

from harbor_fleet.domain.times import MICROS, parse_instant
from harbor_fleet.service.errors import InvalidQuery

DEFAULT_WINDOW_MICROS = 24 * 3600 * MICROS
DEFAULT_LIMIT = 1000
MAX_LIMIT = 10_000


@dataclass(frozen=True, slots=True)
class TrackQuery:
    start: int
    end: int | None
    limit: int


def parse(items: Sequence[tuple[str, str]], now: int) -> TrackQuery:
    """Unknown parameters are ignored; a known one given twice or malformed is a 400."""
    given: dict[str, str] = {}
    for name, value in items:
        if name in ("from", "to", "limit"):
            if name in given:
                raise InvalidQuery(f"{name} is given more than once")
            given[name] = value
    start = _instant(given, "from") if "from" in given else now - DEFAULT_WINDOW_MICROS
    end = _instant(given, "to") if "to" in given else None
    limit = _limit(given.get("limit"))
    if end is not None and end < start:
        raise InvalidQuery("to must not be before from")
    return TrackQuery(start, end, limit)


def _instant(given: dict[str, str], name: str) -> int:
    instant = parse_instant(given[name])
    if instant is None:
        raise InvalidQuery(f"{name} must be an RFC 3339 time with an offset, e.g. 2026-11-26T09:30:00Z")
    return instant


def _limit(value: str | None) -> int:
    if value is None:
        return DEFAULT_LIMIT
    if not (value.isascii() and value.isdigit()) or not 1 <= int(value) <= MAX_LIMIT:
        raise InvalidQuery(f"limit must be an integer from 1 to {MAX_LIMIT}")
    return int(value)
