"""Times in and out.

In: RFC 3339 with an offset; fractions finer than a microsecond are truncated (not rounded, so a
fix never moves into the next second). Out: UTC, `Z`, exactly six fractional digits, so that the
strings sort as times. Inside, an instant is an int of microseconds since the Unix epoch.
"""

import re
from datetime import UTC, datetime, timedelta

_RFC3339 = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt ]([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]+))?"
    r"(?:([Zz])|([+-])([01][0-9]|2[0-3]):([0-5][0-9]))"
)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROS = 1_000_000
_MIN_MICROS = -62_135_596_800 * MICROS  # 0001-01-01T00:00:00Z
_MAX_MICROS = 253_402_300_799_999_999  # 9999-12-31T23:59:59.999999Z


def parse_instant(text: str) -> int | None:
    """Microseconds since the epoch, or None when `text` is not RFC 3339 with an offset."""
    match = _RFC3339.fullmatch(text)
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, zulu, sign, off_h, off_m = match.groups()
    micros = int((fraction or "0")[:6].ljust(6, "0"))
    try:
        moment = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second), micros, UTC)
    except ValueError:
        return None
    offset = 0 if zulu else (int(off_h) * 60 + int(off_m)) * 60
    if sign == "+":
        offset = -offset
    instant = to_micros(moment) + offset * MICROS
    return instant if _MIN_MICROS <= instant <= _MAX_MICROS else None


def to_micros(moment: datetime) -> int:
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * MICROS + delta.microseconds


def from_micros(micros: int) -> datetime:
    return _EPOCH + timedelta(microseconds=micros)


def format_micros(micros: int) -> str:
    moment = from_micros(micros)
    return f"{moment.year:04d}-{moment:%m-%dT%H:%M:%S}.{moment.microsecond:06d}Z"


def format_datetime(moment: datetime) -> str:
    return format_micros(to_micros(moment))
