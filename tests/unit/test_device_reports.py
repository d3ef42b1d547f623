"""The phone apps' requests, as each app builds them, read into fixes (domain/osmand.py, domain/owntracks.py).

Every request below names the source file that builds it (or the server test it comes from).
"""

from datetime import UTC, datetime

import pytest

from harbor_fleet.domain.device_reports import REJECTION_REASONS, UNASSIGNED, for_vehicle
from harbor_fleet.domain.fixes import Fix
from harbor_fleet.domain.osmand import OsmandReport, parse_osmand, parse_osmand_batch
from harbor_fleet.domain.owntracks import OwnTracksReport, parse_owntracks
from harbor_fleet.domain.times import MICROS


def phone_fix(*values: object) -> Fix:
    """A parser's fix: every field but the vehicle, which the endpoint assigns."""
    return Fix(UNASSIGNED, *values)  # type: ignore[arg-type]


NOW = 1_750_000_000 * MICROS


def at(year: int, month: int, day: int, hour: int, minute: int, second: int, micro: int = 0) -> int:
    return int(datetime(year, month, day, hour, minute, second, tzinfo=UTC).timestamp()) * MICROS + micro


def query(params: dict[str, str]) -> OsmandReport:
    return parse_osmand(params, {}, None, NOW)


def rejected(report: OsmandReport | OwnTracksReport) -> str | None:
    assert report.fix is None
    assert report.rejected in REJECTION_REASONS
    return report.rejected


# --- OsmAnd query and form ------------------------------------------------------------------------


def test_android_client_post_with_the_fix_in_the_query_and_an_empty_body() -> None:
    # traccar/traccar-client-android ProtocolFormatter.kt (names, order) + RequestManager.kt (POST, no body)
    params = {
        "id": "123456789012345",
        "timestamp": "1750000000",
        "lat": "52.5200066",
        "lon": "13.404954",
        "speed": "10.0",
        "bearing": "271.5",
        "altitude": "34.0",
        "accuracy": "12.0",
        "batt": "87.0",
        "charge": "true",
    }
    report = parse_osmand(params, {}, None, NOW + 99)
    assert report == OsmandReport(
        device_id="123456789012345",
        fix=phone_fix(1_750_000_000 * MICROS, 52.5200066, 13.404954, 18.52, 271.5, 12.0),
        battery=87.0,
        rejected=None,
    )


def test_ios_client_query_with_six_decimals_and_pairs_as_given() -> None:
    # traccar/traccar-client-ios ProtocolFormatter.swift: lat/lon "%.06f", Swift number printing
    pairs = [("id", "ios-1"), ("timestamp", "1750000000"), ("lat", "-33.868820"), ("lon", "151.209296")]
    pairs += [("speed", "0"), ("bearing", "0"), ("altitude", "0"), ("accuracy", "65"), ("batt", "0.5")]
    report = parse_osmand(pairs, [], None, NOW)
    assert report.fix == phone_fix(1_750_000_000 * MICROS, -33.86882, 151.209296, 0.0, 0.0, 65.0)
    assert report.battery == 0.5


def test_sdk_form_encoded_post_is_read_and_wins_over_the_url_query() -> None:
    # traccar/traccar-client-sdk HttpUploader.kt: submitForm with id, lat, lon, timestamp, speed (knots)...
    form = {"id": "48241179", "lat": "37.4219983", "lon": "-122.084", "timestamp": "1750000000", "speed": "5.4"}
    form |= {"bearing": "90.0", "accuracy": "5.0", "batt": "100", "charge": "false"}
    url_query = {"id": "typed-into-the-url", "token": "abc"}
    report = parse_osmand(url_query, form, None, NOW)
    assert report.device_id == "48241179"
    assert report.fix == phone_fix(1_750_000_000 * MICROS, 37.4219983, -122.084, 10.0008, 90.0, 5.0)
    assert report.battery == 100.0


def test_query_names_the_form_lacks_still_count() -> None:
    report = parse_osmand({"id": "from-url"}, {"lat": "1", "lon": "2"}, None, NOW)
    assert report.device_id == "from-url"
    assert report.fix is not None and (report.fix.lat, report.fix.lng) == (1.0, 2.0)


def test_the_last_of_repeated_values_counts() -> None:
    report = parse_osmand([("lat", "1"), ("lon", "2"), ("lat", "3")], [], None, NOW)
    assert report.fix is not None and report.fix.lat == 3.0


def test_deviceid_and_location_pair() -> None:
    # traccar/traccar OsmAndProtocolDecoderTest.testDecodeQuery: "deviceid=", "location=60.0,30.0"
    report = query({"deviceid": "123456", "timestamp": "1377177267", "location": "60.0,30.0"})
    assert report.device_id == "123456"
    assert report.fix == phone_fix(1_377_177_267 * MICROS, 60.0, 30.0)


def test_id_wins_over_deviceid_and_lat_lon_win_over_location() -> None:
    report = query({"id": "a", "deviceid": "b", "lat": "1", "lon": "2", "location": "3,4"})
    assert report.device_id == "a"
    assert report.fix is not None and (report.fix.lat, report.fix.lng) == (1.0, 2.0)


@pytest.mark.parametrize(
    ("timestamp", "expected"),
    [
        ("1377177267", 1_377_177_267 * MICROS),  # seconds (Android, iOS, SDK)
        ("1442068686579", 1_442_068_686_579_000),  # milliseconds (OsmAndProtocolDecoderTest)
        (str(2**31 - 1), (2**31 - 1) * MICROS),  # the last value read as seconds
        (str(2**31), 2**31 * 1000),  # the first read as milliseconds
        ("2016-01-27T18:55:47Z", at(2016, 1, 27, 18, 55, 47)),  # OsmAndProtocolDecoderTest
        ("2025-06-15T13:45:12.862Z", at(2025, 6, 15, 13, 45, 12, micro=862_000)),
        ("2016-01-27T20:55:47+02:00", at(2016, 1, 27, 18, 55, 47)),
        ("2014-06-04 09:10:11", at(2014, 6, 4, 9, 10, 11)),  # wall time, read as UTC
        ("2014-06-04 09:10:11.25", at(2014, 6, 4, 9, 10, 11, micro=250_000)),
    ],
)
def test_timestamp_forms(timestamp: str, expected: int) -> None:
    report = query({"lat": "1", "lon": "2", "timestamp": timestamp})
    assert report.fix is not None and report.fix.recorded_at == expected


def test_missing_timestamp_is_now() -> None:
    # traccar/traccar OsmAndProtocolDecoderTest: "lat=60.0&lon=30.0&speed=0.0&heading=0.0&...&deviceid=123456"
    report = query({"lat": "60.0", "lon": "30.0", "speed": "0.0", "heading": "0.0", "deviceid": "123456"})
    assert report.fix is not None and report.fix.recorded_at == NOW


@pytest.mark.parametrize(
    ("timestamp", "reason"),
    [
        ("2016-01-27T18:55:47", "timestamp_unparseable"),  # ISO without an offset
        ("27/01/2016 18:55", "timestamp_unparseable"),
        ("2016-02-30 10:00:00", "timestamp_unparseable"),
        ("1.5e9", "timestamp_unparseable"),
        ("9" * 19, "timestamp_out_of_range"),  # milliseconds past year 9999
        ("1" * 65, "timestamp_too_long"),
    ],
)
def test_a_timestamp_that_cannot_be_read_rejects_the_fix(timestamp: str, reason: str) -> None:
    report = query({"id": "d", "lat": "1", "lon": "2", "timestamp": timestamp, "batt": "50"})
    assert rejected(report) == reason
    assert report.device_id == "d" and report.battery == 50.0


@pytest.mark.parametrize(
    ("knots", "kmh"),
    [("10", 18.52), ("5.4", 10.0008), ("0.0", 0.0), ("1079.9", 1999.9748), ("1080", None), ("-1", None)],
)
def test_query_speed_is_knots_converted_exactly(knots: str, kmh: float | None) -> None:
    report = query({"lat": "1", "lon": "2", "speed": knots})
    assert report.fix is not None and report.fix.speed_kmh == kmh


@pytest.mark.parametrize(
    ("bearing", "heading"),
    [("359.5", 359.5), ("360", 0.0), ("360.0", 0.0), ("450", 90.0), ("-1", None), ("east", None), ("nan", None)],
)
def test_heading_is_normalised_or_unknown(bearing: str, heading: float | None) -> None:
    report = query({"lat": "1", "lon": "2", "bearing": bearing})
    assert report.fix is not None and report.fix.heading_deg == heading


def test_bearing_wins_over_heading() -> None:
    report = query({"lat": "1", "lon": "2", "bearing": "10", "heading": "20"})
    assert report.fix is not None and report.fix.heading_deg == 10.0


@pytest.mark.parametrize(("accuracy", "metres"), [("0.0", None), ("0", None), ("-1", None), ("7.5", 7.5)])
def test_query_accuracy_zero_means_not_reported(accuracy: str, metres: float | None) -> None:
    # traccar/traccar-client-android Position.kt: accuracy 0.0 for GPS fixes
    report = query({"lat": "1", "lon": "2", "accuracy": accuracy})
    assert report.fix is not None and report.fix.accuracy_m == metres


def test_heartbeat_without_coordinates() -> None:
    # traccar/traccar OsmAndProtocolDecoderTest: "id=123456&timestamp=1377177267&cell=...&wifi=..."
    report = query({"id": "123456", "timestamp": "1377177267", "cell": "257,02,16,2224", "batt": "42"})
    assert report == OsmandReport(device_id="123456", fix=None, battery=42.0, rejected=None, at=1377177267 * MICROS)


def test_a_heartbeat_with_a_bad_timestamp_is_still_a_heartbeat() -> None:
    assert query({"id": "1", "timestamp": "garbage"}) == OsmandReport("1", None, None, None)


def test_a_fixs_report_is_dated_by_its_fix_alone() -> None:
    report = query({"id": "1", "lat": "1", "lon": "2", "timestamp": "1700000000"})
    assert report.fix is not None and report.fix.recorded_at == 1_700_000_000 * MICROS and report.at is None


def test_a_rejected_fixs_report_keeps_the_time_it_said() -> None:
    report = query({"id": "1", "lat": "95", "lon": "2", "timestamp": "1700000000", "batt": "50"})
    assert (report.rejected, report.at, report.battery) == ("lat_out_of_range", 1_700_000_000 * MICROS, 50.0)


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        ({"lat": "90.5", "lon": "2"}, "lat_out_of_range"),
        ({"lat": "1", "lon": "-180.01"}, "lng_out_of_range"),
        ({"lat": "north", "lon": "2"}, "lat_not_a_number"),
        ({"lat": "NaN", "lon": "2"}, "lat_not_a_number"),
        ({"lat": "Infinity", "lon": "2"}, "lat_not_a_number"),
        ({"lat": "1_0", "lon": "2"}, "lat_not_a_number"),
        ({"lat": "1e999", "lon": "2"}, "lat_out_of_range"),
        ({"lat": "1"}, "lng_missing"),
        ({"lon": "2"}, "lat_missing"),
        ({"lat": "1." + "1" * 63, "lon": "2"}, "lat_too_long"),
        ({"location": "60.0"}, "location_malformed"),
        ({"location": "60.0,30.0,5"}, "location_malformed"),
        ({"location": "91,30"}, "lat_out_of_range"),
    ],
)
def test_unusable_coordinates_reject_the_fix(params: dict[str, str], reason: str) -> None:
    assert rejected(query(params)) == reason


def test_boundary_coordinates_are_accepted() -> None:
    report = query({"lat": "-90", "lon": "180", "speed": "1e3"})
    assert report.fix is not None and (report.fix.lat, report.fix.lng, report.fix.speed_kmh) == (-90.0, 180.0, 1852.0)


def test_overlong_optional_values_are_ignored() -> None:
    long = "1" * 65
    report = query({"id": "x" * 65, "lat": "1", "lon": "2", "speed": long, "batt": long, "accuracy": long})
    assert report == OsmandReport("x" * 65, phone_fix(NOW, 1.0, 2.0), None, None)  # the id: see below


def test_battery_outside_percent_is_unknown() -> None:
    assert query({"lat": "1", "lon": "2", "batt": "101"}).battery is None
    assert query({"lat": "1", "lon": "2", "batt": "-1"}).battery is None


def test_a_phones_fix_becomes_a_fix_of_the_credentials_vehicle() -> None:
    fields = phone_fix(NOW, 1.0, 2.0, 3.0, 4.0, 5.0)
    assert for_vehicle(fields, "van-7") == Fix("van-7", NOW, 1.0, 2.0, 3.0, 4.0, 5.0)


# --- OsmAnd JSON (traccar/traccar-client lib/preferences.dart, location template) -----------------


def android_json(**coords: object) -> dict[str, object]:
    """traccar/traccar OsmAndProtocolDecoderTest.testDecodeJson, first vector."""
    base: dict[str, object] = {"latitude": 37.4219983, "longitude": -122.084, "accuracy": 5, "speed": 0}
    base |= {"heading": -1, "altitude": 5}
    location = {
        "timestamp": "2025-06-15T13:45:12.862Z",
        "coords": base | coords,
        "is_moving": False,
        "odometer": 0,
        "event": "motionchange",
        "battery": {"level": 1, "is_charging": False},
        "activity": {"type": "still"},
        "extras": {},
        "_": "&id=48241179&lat=37.4219983&lon=-122.084&timestamp=2025-06-15T13:45:12.862Z&",
    }
    return {"location": location, "device_id": "48241179"}


def test_json_body_from_the_flutter_client() -> None:
    report = parse_osmand({}, {}, android_json(), NOW)
    expected_time = at(2025, 6, 15, 13, 45, 12, micro=862_000)
    assert report == OsmandReport("48241179", phone_fix(expected_time, 37.4219983, -122.084, 0.0, None, 5.0), 100.0)


def test_json_ignores_query_and_form() -> None:
    report = parse_osmand({"id": "q", "lat": "1", "lon": "2"}, {"lat": "3"}, android_json(), NOW)
    assert report.device_id == "48241179"
    assert report.fix is not None and report.fix.lat == 37.4219983


def test_json_speed_is_metres_per_second_converted_exactly() -> None:
    # traccar/traccar OsmAndProtocolDecoderTest.testDecodeJson, third vector: speed 18.67 m/s, heading 63
    report = parse_osmand({}, {}, android_json(speed=18.67, heading=63, accuracy=3.8), NOW)
    assert report.fix is not None
    assert (report.fix.speed_kmh, report.fix.heading_deg, report.fix.accuracy_m) == (67.212, 63.0, 3.8)


def test_json_minus_one_is_unknown() -> None:
    # traccar/traccar OsmAndProtocolDecoderTest.testDecodeJson, second vector (iOS): -1 speed, heading, level
    body = android_json(speed=-1, heading=-1, accuracy=-1)
    body["location"]["battery"] = {"level": -1, "is_charging": False}  # type: ignore[index]
    report = parse_osmand({}, {}, body, NOW)
    assert report.fix == phone_fix(at(2025, 6, 15, 13, 45, 12, micro=862_000), 37.4219983, -122.084)
    assert report.battery is None


def test_json_battery_level_is_a_fraction() -> None:
    body = android_json()
    body["location"]["battery"] = {"level": 0.79, "is_charging": True}  # type: ignore[index]
    assert parse_osmand({}, {}, body, NOW).battery == 79.0


def test_json_heading_360_and_huge_speed() -> None:
    report = parse_osmand({}, {}, android_json(heading=360, speed=600), NOW)
    assert report.fix is not None and (report.fix.heading_deg, report.fix.speed_kmh) == (0.0, None)


def test_json_without_coords_is_a_heartbeat() -> None:
    body = android_json()
    del body["location"]["coords"]  # type: ignore[attr-defined]
    said = parse_osmand({}, {}, android_json(), NOW).fix
    assert said is not None  # the same location's timestamp dates the heartbeat's battery
    assert parse_osmand({}, {}, body, NOW) == OsmandReport("48241179", None, 100.0, None, at=said.recorded_at)


def test_json_without_timestamp_is_now() -> None:
    body = android_json()
    del body["location"]["timestamp"]  # type: ignore[attr-defined]
    report = parse_osmand({}, {}, body, NOW)
    assert report.fix is not None and report.fix.recorded_at == NOW


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (android_json(latitude=-91.0), "lat_out_of_range"),
        (android_json(latitude="37.4"), "lat_not_a_number"),
        (android_json(latitude=True), "lat_not_a_number"),
        (android_json(longitude=None), "lng_missing"),
        (android_json(longitude=float("inf")), "lng_not_a_number"),
        ({"device_id": "1", "location": {"timestamp": "2025-06-15 13:45:12Z", "coords": {}}}, "lat_missing"),
        ({"device_id": "1", "location": {"coords": [1, 2]}}, "coords_not_an_object"),
        ({"device_id": "1", "location": "here"}, "location_not_an_object"),
        ({"device_id": "1"}, "location_not_an_object"),
        ([{"id": "1", "lat": 1, "lon": 2}], "body_not_an_object"),  # traccar-client-sdk uploadJson: a batch
    ],
)
def test_json_that_cannot_make_a_fix_is_rejected(body: object, reason: str) -> None:
    assert rejected(parse_osmand({}, {}, body, NOW)) == reason


def test_json_timestamp_must_be_a_readable_string() -> None:
    body = android_json()
    body["location"]["timestamp"] = 1750000000  # type: ignore[index]
    assert rejected(parse_osmand({}, {}, body, NOW)) == "timestamp_unparseable"
    body["location"]["timestamp"] = "2025-06-15T13:45:12Z" + " " * 50  # type: ignore[index]
    assert rejected(parse_osmand({}, {}, body, NOW)) == "timestamp_too_long"


def test_an_overlong_device_id_still_names_a_device_cut_short() -> None:
    """Too long to be any credential (they are 43 characters): kept, bounded, so that it is refused as an
    unknown credential rather than taken as no credential at all."""
    body = android_json()
    body["device_id"] = "d" * 500
    assert parse_osmand({}, {}, body, NOW).device_id == "d" * 65
    assert query({"id": "e" * 500}).device_id == "e" * 65
    assert query({"id": "", "deviceid": "f"}).device_id == "f"


# --- The SDK's JSON batch (traccar/traccar-client-sdk HttpUploader.kt, `uploadJson`) --------------


def sdk_item(**fields: object) -> dict[str, object]:
    """One position as HttpUploader.kt writes it with `uploadJson`: `put("id", deviceId)`, `lat`, `lon`,
    `timestamp` = time / 1000 (seconds), `accuracy`, `altitude`, `speed` in knots rounded to 2 decimals,
    `bearing`, `batt`, `charge` (a boolean), then the configured attributes."""
    item: dict[str, object] = {
        "id": "tok",
        "lat": 37.4219983,
        "lon": -122.084,
        "timestamp": 1_750_000_000,
        "accuracy": 5.0,
        "altitude": 5.0,
        "speed": 5.4,
        "bearing": 90.0,
        "batt": 85.0,
        "charge": True,
    }
    item.update(fields)
    return item


def test_sdk_batch_items_read_as_the_query_form() -> None:
    first, second = parse_osmand_batch([sdk_item(), sdk_item(timestamp=1_750_000_005, speed=0.0)], NOW)
    assert first == OsmandReport(
        "tok",
        phone_fix(1_750_000_000 * MICROS, 37.4219983, -122.084, 10.0008, 90.0, 5.0),
        85.0,
    )
    assert second.fix is not None and second.fix.speed_kmh == 0.0 and second.fix.recorded_at == 1_750_000_005 * MICROS


def test_sdk_batch_items_each_stand_alone() -> None:
    reports = parse_osmand_batch(
        [
            sdk_item(lat=123.0),
            "not an object",
            {"id": "tok", "timestamp": 1_750_000_000, "batt": 50},  # a heartbeat
            sdk_item(lat={"nested": 1}),  # an object is no value: lat missing
            sdk_item(timestamp=None),  # null is absent: now
        ],
        NOW,
    )
    assert [report.rejected for report in reports] == [
        "lat_out_of_range",
        "item_not_an_object",
        None,
        "lat_missing",
        None,
    ]
    assert reports[2].fix is None and reports[2].battery == 50.0 and reports[2].at == 1_750_000_000 * MICROS
    assert reports[4].fix is not None and reports[4].fix.recorded_at == NOW
    assert all(report.rejected is None or report.rejected in REJECTION_REASONS for report in reports)


def test_sdk_batch_numbers_keep_the_digits_sent() -> None:
    (report,) = parse_osmand_batch([sdk_item(lat=1e-05, lon=-0.1, speed=10)], NOW)
    assert report.fix is not None and (report.fix.lat, report.fix.lng, report.fix.speed_kmh) == (1e-05, -0.1, 18.52)


def test_battery_is_kept_to_a_hundredth() -> None:
    assert [query({"id": "1", "batt": batt}).battery for batt in ("1e-50", "99.999", "42.125")] == [0.0, 100.0, 42.12]


def test_an_empty_batch_has_no_reports() -> None:
    assert parse_osmand_batch([], NOW) == []


# --- OwnTracks (owntracks/booklet docs/tech/json.md; owntracks/android test fixtures) ------------


def owntracks_location(**fields: object) -> dict[str, object]:
    """owntracks/android ParserTest.kt, the extended location message, with Android's SSID/BSSID."""
    body: dict[str, object] = {
        "_type": "location",
        "created_at": 1709037052,
        "_id": "dummyTestId",
        "batt": 30,
        "bs": 2,
        "acc": 10,
        "vac": 1,
        "lat": 50.1,
        "lon": 60.2,
        "alt": 20,
        "vel": 5,
        "cog": 56,
        "tst": 1709037003,
        "m": 1,
        "conn": "w",
        "inregions": ["Testregion1"],
        "BSSID": "12:34:56:78",
        "SSID": "Wifi SSID",
        "tid": "aa",
    }
    return body | fields


def test_owntracks_location() -> None:
    report = parse_owntracks(owntracks_location(), NOW)
    assert report == OwnTracksReport("location", phone_fix(1709037003 * MICROS, 50.1, 60.2, 5.0, 56.0, 10.0), 30.0)


def test_owntracks_ssid_spellings_are_accepted_and_ignored() -> None:
    plain = owntracks_location()
    del plain["SSID"], plain["BSSID"]
    lower = plain | {"ssid": "Home", "bssid": "00:13:10:85:fe:01"}
    upper = plain | {"SSID": "Home", "BSSID": "00:13:10:85:fe:01"}
    expected = parse_owntracks(plain, NOW)
    assert expected.fix is not None
    assert parse_owntracks(lower, NOW) == expected == parse_owntracks(upper, NOW)


def test_owntracks_minimal_location_without_optional_fields() -> None:
    # owntracks/booklet json.md: acc, alt, cog, vac, vel are only added when not zero
    report = parse_owntracks({"_type": "location", "lat": 0.0, "lon": 0.0, "tst": 1778266175, "tid": "xx"}, NOW)
    assert report == OwnTracksReport("location", phone_fix(1778266175 * MICROS, 0.0, 0.0), None)


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"acc": 0}, ("accuracy_m", None)),
        ({"acc": 1600}, ("accuracy_m", 1600.0)),
        ({"acc": -1}, ("accuracy_m", None)),
        ({"cog": 360}, ("heading_deg", 0.0)),
        ({"cog": -1}, ("heading_deg", None)),
        ({"vel": 0}, ("speed_kmh", 0.0)),
        ({"vel": 2001}, ("speed_kmh", None)),
        ({"vel": "5"}, ("speed_kmh", None)),
        ({"tst": 1709037003.5}, ("recorded_at", 1709037003 * MICROS + 500_000)),
    ],
)
def test_owntracks_optional_fields(fields: dict[str, object], expected: tuple[str, object]) -> None:
    report = parse_owntracks(owntracks_location(**fields), NOW)
    assert report.fix is not None and getattr(report.fix, expected[0]) == expected[1]


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"tst": None}, "tst_missing"),  # created_at is present, and still no fallback
        ({"tst": 0}, "tst_out_of_range"),  # owntracks/android invalid_location_message_zero_timestamp.json
        ({"tst": "1709037003"}, "tst_not_a_number"),
        ({"tst": 10**12}, "tst_out_of_range"),
        ({"lat": 95.0}, "lat_out_of_range"),
        ({"lon": "60.2"}, "lng_not_a_number"),
        ({"lat": None}, "lat_missing"),
    ],
)
def test_owntracks_location_that_cannot_make_a_fix(fields: dict[str, object], reason: str) -> None:
    body = {key: value for key, value in owntracks_location(**fields).items() if value is not None}
    report = parse_owntracks(body, NOW)
    assert rejected(report) == reason
    assert report.kind == "location" and report.battery == 30.0


def test_owntracks_empty_location_is_rejected() -> None:
    # owntracks/android location_empty.json
    assert rejected(parse_owntracks({"_type": "location"}, NOW)) == "lat_missing"


@pytest.mark.parametrize(
    ("body", "kind"),
    [
        # owntracks/android transition_message.json: has coordinates, but is no location report
        (
            {"_type": "transition", "acc": 3, "desc": "myregion", "event": "leave", "lat": 52.71234}
            | {"lon": -1.61234123, "t": "l", "tid": "ce", "tst": 1603209966, "wtst": 1558351273},
            "transition",
        ),
        ({"_type": "lwt", "tst": 1603209966}, "lwt"),  # booklet json.md
        (  # owntracks/android waypoint_message.json
            {"_type": "waypoint", "desc": "mypoint", "lat": 52.0027789, "lon": -1.0829312, "rad": 150}
            | {"tst": 1558351273},
            "waypoint",
        ),
        ({"_type": "encrypted", "data": "TestCipherText"}, "encrypted"),  # encrypted_message.json
        ({}, "unknown"),
        ({"_type": 5}, "unknown"),
        ({"_type": ""}, "unknown"),
        ({"_type": "x" * 65}, "unknown"),
        ([], "unknown"),
        ([{"_type": "location", "lat": 1, "lon": 2, "tst": 1603209966}], "unknown"),
        ("location", "unknown"),
        (None, "unknown"),
    ],
)
def test_owntracks_other_bodies_carry_no_fix(body: object, kind: str) -> None:
    assert parse_owntracks(body, NOW) == OwnTracksReport(kind, None, None, None)
