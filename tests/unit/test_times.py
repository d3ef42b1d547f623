"""Times in and out (DESIGN 2.1 "Times in", 2.8 "Times out")."""

import calendar

import pytest

from harbor_fleet.domain.times import MICROS, format_micros, from_micros, parse_instant

# 2026-11-26T09:00:00Z, computed independently of the code under test.
NINE_UTC = calendar.timegm((2026, 11, 26, 9, 0, 0)) * MICROS


def test_micros_constant() -> None:
    assert MICROS == 1_000_000


def test_parses_zulu_to_micros_since_epoch() -> None:
    assert parse_instant("2026-11-26T09:00:00Z") == NINE_UTC


def test_epoch_is_zero() -> None:
    assert parse_instant("1970-01-01T00:00:00Z") == 0


@pytest.mark.parametrize(
    "text",
    [
        "2026-11-26T09:00:00Z",
        "2026-11-26T09:00:00z",
        "2026-11-26t09:00:00Z",
        "2026-11-26 09:00:00Z",
        "2026-11-26T09:00:00+00:00",
        "2026-11-26T09:00:00-00:00",
        "2026-11-26T10:00:00+01:00",
        "2026-11-26T04:30:00-04:30",
        "2026-11-27T08:59:00+23:59",
        "2026-11-25T09:01:00-23:59",
    ],
)
def test_accepted_spellings_of_the_same_instant(text: str) -> None:
    assert parse_instant(text) == NINE_UTC


def test_positive_offset_is_east_of_utc() -> None:
    # The identity rule of DESIGN 2.8: 10:00:00+01:00 and 09:00:00Z are the same fix.
    assert parse_instant("2026-11-26T10:00:00+01:00") == parse_instant("2026-11-26T09:00:00Z")
    assert parse_instant("2026-11-26T10:00:00-01:00") == NINE_UTC + 2 * 3600 * MICROS


def test_offset_crosses_a_day_boundary() -> None:
    assert parse_instant("2026-11-27T00:30:00+02:00") == calendar.timegm((2026, 11, 26, 22, 30, 0)) * MICROS


@pytest.mark.parametrize(
    ("fraction", "micros"),
    [
        (".5", 500_000),
        (".25", 250_000),
        (".000001", 1),
        (".123456", 123_456),
        (".1234567", 123_456),
        (".9999999", 999_999),
        (".999999999", 999_999),
        (".000000999", 0),
    ],
)
def test_fraction_is_truncated_to_microseconds(fraction: str, micros: int) -> None:
    assert parse_instant(f"2026-11-26T09:00:00{fraction}Z") == NINE_UTC + micros


def test_sub_microsecond_fraction_never_moves_into_the_next_second() -> None:
    parsed = parse_instant("2026-11-26T09:00:00.9999999Z")
    assert parsed is not None
    assert parsed // MICROS == NINE_UTC // MICROS
    assert parsed == NINE_UTC + 999_999


def test_fraction_with_offset() -> None:
    assert parse_instant("2026-11-26T10:00:00.250000+01:00") == NINE_UTC + 250_000


def test_leap_day_accepted() -> None:
    assert parse_instant("2028-02-29T00:00:00Z") == calendar.timegm((2028, 2, 29, 0, 0, 0)) * MICROS


@pytest.mark.parametrize(
    "text",
    [
        "",
        "2026-11-26",  # a date only
        "09:00:00Z",  # a time only
        "2026-11-26T09:00:00",  # no offset
        "2026-11-26T09:00Z",  # no seconds
        "2026-11-26T09:00:00.Z",  # empty fraction
        "2026-11-26T09:00:00,5Z",  # comma fraction
        "2026-11-26T09:00:00+0100",  # offset without colon
        "2026-11-26T09:00:00+01",  # offset without minutes
        "2026-11-26T09:00:00 Z",
        " 2026-11-26T09:00:00Z",
        "2026-11-26T09:00:00Z ",
        "2026-11-26T09:00:00Z\n",
        "2026-11-26_09:00:00Z",
        "26-11-26T09:00:00Z",
        "2026-1-26T09:00:00Z",
        "2026-11-26T9:00:00Z",
        "1795683600",  # unix seconds
        "2026-02-30T00:00:00Z",  # no such day
        "2027-02-29T00:00:00Z",  # not a leap year
        "2026-13-01T00:00:00Z",
        "2026-00-10T00:00:00Z",
        "2026-11-00T00:00:00Z",
        "2026-11-26T24:00:00Z",  # hour 24
        "2026-11-26T09:60:00Z",
        "2026-11-26T09:00:61Z",
        "2026-11-26T09:00:00+24:00",  # offsets of a day or more
        "2026-11-26T09:00:00-24:00",
        "2026-11-26T09:00:00+99:00",
        "0000-01-01T00:00:00Z",
    ],
)
def test_rejected(text: str) -> None:
    assert parse_instant(text) is None


@pytest.mark.parametrize("offset", ["+00:60", "-05:75", "+01:99", "+1:00", "+001:00", "+00:0"])
def test_malformed_offsets_rejected(offset: str) -> None:
    assert parse_instant(f"2026-11-26T09:00:00{offset}") is None


@pytest.mark.parametrize(
    "text",
    [
        "\uff12\uff10\uff12\uff16-11-26T09:00:00Z",  # fullwidth year
        "2026-11-26T09:00:00.\u0661\u0662Z",  # Arabic-Indic fraction digits
        "2026-11-26T09:00:00+0\u0661:00",  # Arabic-Indic offset digit
    ],
)
def test_non_ascii_digits_rejected(text: str) -> None:
    assert parse_instant(text) is None


@pytest.mark.parametrize(
    ("fraction", "micros"),
    [(".1234567891", 123_456), ("." + "9" * 100, 999_999), ("." + "0" * 6 + "9" * 30, 0)],
    ids=["10-digits", "100-digits", "36-digits-below-a-micro"],
)
def test_fraction_of_any_length_is_truncated(fraction: str, micros: int) -> None:
    # RFC 3339 allows any number of fraction digits; finer than a microsecond is truncated.
    assert parse_instant(f"2026-11-26T09:00:00{fraction}Z") == NINE_UTC + micros


def test_extremes_of_the_range_are_accepted() -> None:
    first = parse_instant("0001-01-01T00:00:00Z")
    last = parse_instant("9999-12-31T23:59:59.999999Z")
    assert first == calendar.timegm((1, 1, 1, 0, 0, 0)) * MICROS
    assert last == calendar.timegm((9999, 12, 31, 23, 59, 59)) * MICROS + 999_999
    assert format_micros(first) == "0001-01-01T00:00:00.000000Z"
    assert format_micros(last) == "9999-12-31T23:59:59.999999Z"


@pytest.mark.parametrize("text", ["0001-01-01T00:00:00+00:01", "9999-12-31T23:59:59-00:01"])
def test_instants_outside_the_representable_range_are_rejected(text: str) -> None:
    # Before 0001-01-01Z or after 9999-12-31Z once the offset is applied: no datetime can hold them.
    assert parse_instant(text) is None


@pytest.mark.parametrize(
    "text", ["0001-01-01T00:00:00-00:01", "0001-01-01T23:59:00+23:59", "9999-12-31T23:59:59+00:01"]
)
def test_parsed_instants_are_representable(text: str) -> None:
    instant = parse_instant(text)
    assert instant is not None
    assert from_micros(instant).tzinfo is not None
    assert parse_instant(format_micros(instant)) == instant


def test_format_micros_shape() -> None:
    assert format_micros(NINE_UTC + 250_000) == "2026-11-26T09:00:00.250000Z"
    assert format_micros(NINE_UTC) == "2026-11-26T09:00:00.000000Z"
    assert format_micros(NINE_UTC + 1) == "2026-11-26T09:00:00.000001Z"
    assert format_micros(0) == "1970-01-01T00:00:00.000000Z"


def test_format_micros_is_utc_with_six_digits() -> None:
    text = format_micros(NINE_UTC + 123_456)
    assert len(text) == len("2026-11-26T09:00:00.123456Z")
    assert text.endswith("Z")
    assert text[19] == "."
    assert text[20:26].isdigit()


def test_format_converts_offsets_to_utc() -> None:
    instant = parse_instant("2026-11-26T10:30:00.5+01:00")
    assert instant is not None
    assert format_micros(instant) == "2026-11-26T09:30:00.500000Z"


@pytest.mark.parametrize(
    "micros",
    [
        0,
        1,
        999_999,
        NINE_UTC,
        NINE_UTC + 123_456,
        NINE_UTC + 999_999,
        calendar.timegm((2028, 2, 29, 23, 59, 59)) * MICROS,
    ],
)
def test_round_trip(micros: int) -> None:
    assert parse_instant(format_micros(micros)) == micros


def test_round_trip_of_text() -> None:
    text = "2026-11-26T09:30:00.250000Z"
    instant = parse_instant(text)
    assert instant is not None
    assert format_micros(instant) == text


def test_formatted_strings_sort_as_times() -> None:
    instants = [
        NINE_UTC,
        NINE_UTC + 1,
        NINE_UTC + 999_999,
        NINE_UTC + MICROS,
        NINE_UTC - 1,
        NINE_UTC + 10 * MICROS,  # 09:00:10 vs 09:00:09.999999
        NINE_UTC + 10 * MICROS - 1,
        NINE_UTC + 86_400 * MICROS,
        NINE_UTC + 400 * 86_400 * MICROS,
        0,
    ]
    texts = [format_micros(m) for m in instants]
    assert sorted(texts) == [format_micros(m) for m in sorted(instants)]


def test_format_pads_the_year_to_four_digits() -> None:
    instant = parse_instant("0999-12-31T00:00:00Z")
    assert instant is not None
    assert format_micros(instant) == "0999-12-31T00:00:00.000000Z"
