"""The ingest body and fix rules (DESIGN 2.1, 2.8)."""

import calendar
import math
from typing import Any

import pytest

from harbor_fleet.domain.fixes import Fix, FixError, TimeWindow, TooDeep, parse_body, parse_fix
from harbor_fleet.domain.times import MICROS, format_micros

NOW = calendar.timegm((2026, 11, 26, 9, 0, 0)) * MICROS
RETENTION_DAYS = 90
WINDOW = TimeWindow.at(NOW, RETENTION_DAYS)
RECORDED_AT = "2026-11-26T08:59:30.250000Z"
RECORDED_AT_MICROS = NOW - 30 * MICROS + 250_000


def a_fix(**changes: Any) -> dict[str, Any]:
    """A valid fix, with `changes` applied; a change to `...` (Ellipsis) removes the key."""
    fix: dict[str, Any] = {"vehicle_id": "truck-1", "lat": 52.5, "lng": 13.4, "recorded_at": RECORDED_AT}
    for key, value in changes.items():
        if value is ...:
            fix.pop(key, None)
        else:
            fix[key] = value
    return fix


def body(*fixes: object) -> dict[str, Any]:
    return {"fixes": list(fixes)}


def errors_of(outcome: object) -> list[FixError]:
    assert isinstance(outcome, list)
    assert outcome, "expected at least one error"
    assert all(isinstance(item, FixError) for item in outcome), outcome
    return outcome


def fixes_of(outcome: object) -> list[Fix]:
    assert isinstance(outcome, list)
    assert all(isinstance(item, Fix) for item in outcome), outcome
    return outcome


def fields_of(outcome: object) -> list[tuple[int | None, str]]:
    return sorted(((e.index, e.field) for e in errors_of(outcome)), key=repr)


def field_errors(**changes: Any) -> list[FixError]:
    return errors_of(parse_fix(0, a_fix(**changes), WINDOW))


def nested_lists(count: int) -> list[Any]:
    """`count` lists, each inside the next: nested_lists(1) == [], nested_lists(2) == [[]]."""
    value: list[Any] = []
    for _ in range(count - 1):
        value = [value]
    return value


# --- the time window -------------------------------------------------------------------------------


def test_time_window_bounds() -> None:
    window = TimeWindow.at(NOW, 90)
    assert window.newest == NOW + 60 * MICROS
    assert window.oldest == NOW - 90 * 86_400 * MICROS


# --- a valid body ----------------------------------------------------------------------------------


def test_valid_body_yields_fixes() -> None:
    fixes = fixes_of(parse_body(body(a_fix()), WINDOW))
    assert fixes == [Fix(vehicle_id="truck-1", recorded_at=RECORDED_AT_MICROS, lat=52.5, lng=13.4)]


def test_valid_body_keeps_order_of_fixes() -> None:
    outcome = parse_body(body(a_fix(vehicle_id="a"), a_fix(vehicle_id="b"), a_fix(vehicle_id="c")), WINDOW)
    assert [f.vehicle_id for f in fixes_of(outcome)] == ["a", "b", "c"]


def test_all_fields() -> None:
    fix = a_fix(speed_kmh=42, heading_deg=359.5, accuracy_m=3.25)
    [parsed] = fixes_of(parse_body(body(fix), WINDOW))
    assert parsed.speed_kmh == 42.0
    assert parsed.heading_deg == 359.5
    assert parsed.accuracy_m == 3.25


def test_recorded_at_is_in_micros_and_offsets_are_applied() -> None:
    [parsed] = fixes_of(parse_body(body(a_fix(recorded_at="2026-11-26T09:59:30.25+01:00")), WINDOW))
    assert parsed.recorded_at == RECORDED_AT_MICROS


def test_integers_become_floats() -> None:
    [parsed] = fixes_of(parse_body(body(a_fix(lat=10, lng=-20, speed_kmh=5)), WINDOW))
    assert (parsed.lat, parsed.lng, parsed.speed_kmh) == (10.0, -20.0, 5.0)
    assert type(parsed.lat) is float
    assert type(parsed.lng) is float
    assert type(parsed.speed_kmh) is float


def test_optional_fields_absent_are_none() -> None:
    [parsed] = fixes_of(parse_body(body(a_fix()), WINDOW))
    assert (parsed.speed_kmh, parsed.heading_deg, parsed.accuracy_m) == (None, None, None)


def test_optional_fields_explicit_null_are_none() -> None:
    [parsed] = fixes_of(parse_body(body(a_fix(speed_kmh=None, heading_deg=None, accuracy_m=None)), WINDOW))
    assert (parsed.speed_kmh, parsed.heading_deg, parsed.accuracy_m) == (None, None, None)


def test_parse_fix_returns_a_fix() -> None:
    assert parse_fix(7, a_fix(), WINDOW) == Fix("truck-1", RECORDED_AT_MICROS, 52.5, 13.4)


def test_one_thousand_fixes_accepted() -> None:
    assert len(fixes_of(parse_body(body(*[a_fix() for _ in range(1000)]), WINDOW))) == 1000


# --- collecting every error ------------------------------------------------------------------------


def test_every_bad_fix_is_reported_with_index_and_field() -> None:
    outcome = parse_body(
        body(a_fix(lat=91), a_fix(), a_fix(lng=-181, speed_kmh=-1), a_fix(vehicle_id="")),
        WINDOW,
    )
    assert fields_of(outcome) == sorted([(0, "lat"), (2, "lng"), (2, "speed_kmh"), (3, "vehicle_id")], key=repr)


def test_every_problem_of_one_fix_is_reported() -> None:
    fix = {"vehicle_id": "-bad", "lat": "1", "lng": True, "speed_kmh": 3000, "heading_deg": 360, "accuracy_m": -1}
    outcome = parse_body(body(fix), WINDOW)
    assert fields_of(outcome) == sorted(
        [
            (0, "vehicle_id"),
            (0, "lat"),
            (0, "lng"),
            (0, "recorded_at"),
            (0, "speed_kmh"),
            (0, "heading_deg"),
            (0, "accuracy_m"),
        ],
        key=repr,
    )


def test_errors_carry_a_message() -> None:
    for error in errors_of(parse_body(body(a_fix(lat=91, recorded_at="soon", extra=1)), WINDOW)):
        assert isinstance(error.message, str)
        assert error.message


def test_one_bad_fix_rejects_the_whole_body() -> None:
    outcome = parse_body(body(a_fix(), a_fix(lat=100), a_fix()), WINDOW)
    assert [(e.index, e.field) for e in errors_of(outcome)] == [(1, "lat")]


def test_parse_fix_uses_the_given_index() -> None:
    [error] = errors_of(parse_fix(41, a_fix(lat=100), WINDOW))
    assert (error.index, error.field) == (41, "lat")


def test_a_fix_that_is_not_an_object() -> None:
    outcome = parse_body(body(a_fix(), [1, 2], "x", None), WINDOW)
    assert fields_of(outcome) == [(1, "fixes"), (2, "fixes"), (3, "fixes")]


# --- problems with the body as a whole -------------------------------------------------------------


@pytest.mark.parametrize(
    "document",
    [
        [a_fix()],  # not an object
        "fixes",
        42,
        None,
        True,
        {},  # "fixes" missing
        {"fix": [a_fix()]},
        {"fixes": a_fix()},  # not a list
        {"fixes": "[]"},
        {"fixes": None},
        {"fixes": 1},
        {"fixes": []},  # empty
        {"fixes": [a_fix() for _ in range(1001)]},  # too many
        {"fixes": [a_fix()], "extra": 1},  # an extra top-level key
        {"fixes": [a_fix()], "FIXES": []},
        {"fixes": [a_fix(lat=100)], "extra": 1},  # the body problem wins over the fix problem
    ],
)
def test_body_problem_is_one_error_without_index(document: object) -> None:
    [error] = errors_of(parse_body(document, WINDOW))
    assert error.index is None
    assert error.field == "fixes"
    assert error.message


def test_extra_top_level_key_is_named() -> None:
    [error] = errors_of(parse_body({"fixes": [a_fix()], "vehicles": []}, WINDOW))
    assert "vehicles" in error.message


# --- vehicle_id ------------------------------------------------------------------------------------


@pytest.mark.parametrize("vehicle_id", ["a", "Z", "0", "truck-1", "a.b_c:d-e", "9-", "x" * 64, "A" + "._:-" * 15])
def test_vehicle_id_accepted(vehicle_id: str) -> None:
    [parsed] = fixes_of(parse_body(body(a_fix(vehicle_id=vehicle_id)), WINDOW))
    assert parsed.vehicle_id == vehicle_id


@pytest.mark.parametrize(
    "vehicle_id",
    ["", "-a", ".a", "_a", ":a", "a b", "a/b", "a\n", "a\u00e9", "\u00e9", "x" * 65, 12, True, None, ["a"], ...],
)
def test_vehicle_id_rejected(vehicle_id: object) -> None:
    assert [(e.index, e.field) for e in field_errors(vehicle_id=vehicle_id)] == [(0, "vehicle_id")]


# --- numbers ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("lat", -90),
        ("lat", 90),
        ("lat", 0),
        ("lat", -90.0),
        ("lat", 90.0),
        ("lng", -180),
        ("lng", 180),
        ("lng", 179.999999),
        ("speed_kmh", 0),
        ("speed_kmh", 2000),
        ("speed_kmh", 2000.0),
        ("heading_deg", 0),
        ("heading_deg", 359.999999),
        ("accuracy_m", 0),
        ("accuracy_m", 1e300),
        ("accuracy_m", 10**20),
    ],
)
def test_number_accepted(field: str, value: float) -> None:
    [parsed] = fixes_of(parse_body(body(a_fix(**{field: value})), WINDOW))
    assert getattr(parsed, field) == float(value)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("lat", -90.000001),
        ("lat", 90.000001),
        ("lat", 91),
        ("lng", -180.000001),
        ("lng", 180.000001),
        ("lng", 360),
        ("speed_kmh", -0.000001),
        ("speed_kmh", 2000.000001),
        ("heading_deg", 360),
        ("heading_deg", 360.0),
        ("heading_deg", -0.000001),
        ("accuracy_m", -0.000001),
        ("accuracy_m", -1),
    ],
)
def test_number_out_of_range(field: str, value: float) -> None:
    assert [(e.index, e.field) for e in field_errors(**{field: value})] == [(0, field)]


@pytest.mark.parametrize("field", ["lat", "lng", "speed_kmh", "heading_deg", "accuracy_m"])
@pytest.mark.parametrize(
    "value",
    [True, False, "1", "", [1], {"v": 1}, math.inf, -math.inf, math.nan, 10**400, -(10**400)],
    ids=["true", "false", "str", "empty-str", "list", "object", "inf", "-inf", "nan", "10**400", "-10**400"],
)
def test_not_a_valid_number(field: str, value: object) -> None:
    assert [(e.index, e.field) for e in field_errors(**{field: value})] == [(0, field)]


@pytest.mark.parametrize("field", ["lat", "lng"])
@pytest.mark.parametrize("value", [None, ...], ids=["null", "absent"])
def test_coordinates_are_required(field: str, value: object) -> None:
    assert [(e.index, e.field) for e in field_errors(**{field: value})] == [(0, field)]


def test_huge_int_is_a_field_error_not_an_exception() -> None:
    outcome = parse_body(body(a_fix(lat=10**400, speed_kmh=10**400)), WINDOW)
    assert fields_of(outcome) == sorted([(0, "lat"), (0, "speed_kmh")], key=repr)


# --- recorded_at -----------------------------------------------------------------------------------


def test_recorded_at_exactly_at_the_bounds_is_accepted() -> None:
    newest = format_micros(WINDOW.newest)
    oldest = format_micros(WINDOW.oldest)
    outcome = parse_body(body(a_fix(recorded_at=newest), a_fix(recorded_at=oldest)), WINDOW)
    assert [f.recorded_at for f in fixes_of(outcome)] == [NOW + 60 * MICROS, NOW - RETENTION_DAYS * 86_400 * MICROS]


@pytest.mark.parametrize(
    "micros",
    [NOW + 60 * MICROS + 1, NOW + 3600 * MICROS, NOW - RETENTION_DAYS * 86_400 * MICROS - 1, 0],
    ids=["future+1us", "future+1h", "retention-1us", "epoch"],
)
def test_recorded_at_outside_the_window(micros: int) -> None:
    assert [(e.index, e.field) for e in field_errors(recorded_at=format_micros(micros))] == [(0, "recorded_at")]


def test_future_tolerance_with_an_offset() -> None:
    # 10:01:00+01:00 is NOW + 60 s: accepted; one microsecond later is not.
    assert isinstance(parse_fix(0, a_fix(recorded_at="2026-11-26T10:01:00+01:00"), WINDOW), Fix)
    errors = errors_of(parse_fix(0, a_fix(recorded_at="2026-11-26T10:01:00.000001+01:00"), WINDOW))
    assert [e.field for e in errors] == ["recorded_at"]


@pytest.mark.parametrize(
    "value",
    [
        "2026-11-26T09:00:00",
        "2026-11-26",
        "",
        "now",
        1795683600,
        1795683600.0,
        None,
        ...,
        True,
        ["2026-11-26T09:00:00Z"],
    ],
)
def test_recorded_at_invalid(value: object) -> None:
    assert [(e.index, e.field) for e in field_errors(recorded_at=value)] == [(0, "recorded_at")]


# --- unknown keys ----------------------------------------------------------------------------------


def test_unknown_key_is_rejected_naming_it() -> None:
    [error] = field_errors(colour="red")
    assert error.index == 0
    assert error.field == "colour"
    assert "colour" in error.message


def test_unknown_key_with_null_value_is_rejected() -> None:
    assert [e.field for e in field_errors(altitude=None)] == ["altitude"]


def test_each_unknown_key_is_reported() -> None:
    assert sorted(e.field for e in field_errors(a=1, b=2, Lat=3)) == ["Lat", "a", "b"]


def test_long_unknown_key_is_clipped() -> None:
    [error] = field_errors(**{"k" * 1000: 1})
    assert error.field.startswith("kkk")
    assert len(error.field) <= 64


# --- nesting depth ---------------------------------------------------------------------------------
# "Level" is the nesting level of a JSON container, as in fixes._check_depth: the body object is level 1,
# the "fixes" list level 2, a fix object level 3 and a value inside a fix level 4. A container at level 32
# is allowed; one at level 33 ("nested deeper than 32 levels") raises TooDeep. Scalars do not count.


def test_depth_32_inside_a_fix_is_allowed() -> None:
    """29 nested lists as a fix field's value: the innermost list is at level 4 + 28 = 32."""
    errors = errors_of(parse_body(body(a_fix(speed_kmh=nested_lists(29))), WINDOW))
    assert [(e.index, e.field) for e in errors] == [(0, "speed_kmh")]


def test_depth_33_inside_a_fix_is_too_deep() -> None:
    """30 nested lists as a fix field's value: the innermost list is at level 33."""
    with pytest.raises(TooDeep):
        parse_body(body(a_fix(speed_kmh=nested_lists(30))), WINDOW)


def test_depth_counts_objects_too() -> None:
    """Level 4 object, then 28 lists (levels 5..32), then an object at level 33."""
    value: Any = {"x": nested_lists(28)}
    assert errors_of(parse_body(body(a_fix(speed_kmh=value)), WINDOW))
    inner: list[Any] = nested_lists(28)
    innermost = inner
    while innermost:
        innermost = innermost[0]
    innermost.append({"y": 1})
    with pytest.raises(TooDeep):
        parse_body(body(a_fix(speed_kmh={"x": inner})), WINDOW)


def test_too_deep_in_an_unknown_key() -> None:
    with pytest.raises(TooDeep):
        parse_body(body(a_fix(extra=nested_lists(30))), WINDOW)


def test_too_deep_after_other_errors_still_raises() -> None:
    with pytest.raises(TooDeep):
        parse_body(body(a_fix(lat=100), a_fix(), a_fix(heading_deg=nested_lists(30))), WINDOW)


def test_too_deep_in_a_fix_that_is_not_an_object() -> None:
    """A fix that is a list is at level 3: 30 nested lists reach level 32, 31 reach level 33."""
    assert fields_of(parse_body(body(nested_lists(30)), WINDOW)) == [(0, "fixes")]
    with pytest.raises(TooDeep):
        parse_body(body(nested_lists(31)), WINDOW)


def test_too_deep_when_the_body_is_not_an_object() -> None:
    """The body itself is level 1: 32 nested lists are allowed, 33 are not."""
    [error] = errors_of(parse_body(nested_lists(32), WINDOW))
    assert (error.index, error.field) == (None, "fixes")
    with pytest.raises(TooDeep):
        parse_body(nested_lists(33), WINDOW)


def test_too_deep_in_an_extra_top_level_key() -> None:
    """A top-level value is at level 2: 31 nested lists reach level 32, 32 reach level 33."""
    assert errors_of(parse_body({"fixes": [a_fix()], "extra": nested_lists(31)}, WINDOW))
    with pytest.raises(TooDeep):
        parse_body({"fixes": [a_fix()], "extra": nested_lists(32)}, WINDOW)


def test_too_deep_when_fixes_is_not_a_list() -> None:
    with pytest.raises(TooDeep):
        parse_body({"fixes": {"a": nested_lists(32)}}, WINDOW)


def test_too_deep_with_too_many_fixes() -> None:
    fixes: list[object] = [a_fix() for _ in range(1000)]
    fixes.append(a_fix(speed_kmh=nested_lists(30)))
    with pytest.raises(TooDeep):
        parse_body({"fixes": fixes}, WINDOW)
