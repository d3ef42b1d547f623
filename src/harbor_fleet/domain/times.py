"""Times in and out.

In: RFC 3339 with an offset; fractions finer than a microsecond are truncated (not rounded, so a
fix never moves into the next second). Out: UTC, `Z`, exactly six fractional digits, so that the
strings sort as times. Inside, an instant is an int of microseconds since the Unix epoch.
"""

import re
from datetime import UTC, datetime, timedelta
from functools import lru_cache

# The shape only; datetime.fromisoformat (C, and truncating past microseconds) does the arithmetic.
_RFC3339 = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?"
    r"(?:[Zz]|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])"
)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROS = 1_000_000
_MIN_MICROS = -62_135_596_800 * MICROS  # 0001-01-01T00:00:00Z
_MAX_MICROS = 253_402_300_799_999_999  # 9999-12-31T23:59:59.999999Z


def parse_instant(text: str) -> int | None:
    """Microseconds since the epoch, or None when `text` is not RFC 3339 with an offset."""
    if _RFC3339.fullmatch(text) is None:
        return None
    try:
        moment = datetime.fromisoformat(text[:-1] + "Z" if text[-1] == "z" else text)
    except ValueError:  # a date or time out of range, e.g. February 30th
        return None
    instant = to_micros(moment)
    return instant if _MIN_MICROS <= instant <= _MAX_MICROS else None


def to_micros(moment: datetime) -> int:
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * MICROS + delta.microseconds


def from_micros(micros: int) -> datetime:
    return _EPOCH + timedelta(microseconds=micros)


def format_micros(micros: int) -> str:
    seconds, fraction = divmod(micros, MICROS)
    return f"{_format_second(seconds)}.{fraction:06d}Z"


@lru_cache(maxsize=16_384)
def _format_second(seconds: int) -> str:
    """Fixes of a batch mostly share their seconds: formatting one is worth remembering (bounded)."""
    moment = _EPOCH + timedelta(seconds=seconds)
    return f"{moment.year:04d}-{moment:%m-%dT%H:%M:%S}"


def format_datetime(moment: datetime) -> str:
    return format_micros(to_micros(moment))
