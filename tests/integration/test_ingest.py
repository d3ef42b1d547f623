"""Ingest (DESIGN 2.1, 2.8) against a real PostgreSQL: every answer, and what it stores."""

import time
from datetime import UTC, datetime, timedelta, timezone

import pytest

from harbor_fleet.domain.signing import sign
from helpers import Harbor, encode, fix, iso, signed_headers

URL = "/api/v1/fleets/f1/positions"


@pytest.fixture
def key(harbor: Harbor):  # type: ignore[no-untyped-def]
    harbor.create_fleet("f1")
    return harbor.create_key("f1")


def stored(harbor: Harbor) -> list[tuple]:
    return harbor.sql("SELECT vehicle_id, lat, lng, speed_kmh FROM fixes ORDER BY vehicle_id, recorded_at")


def error_of(response) -> str:  # type: ignore[no-untyped-def]
    body = response.json()
    assert set(body) == {"error"} and {"code", "message"} <= set(body["error"])
    return body["error"]["code"]


def test_accepted_fixes_are_stored_with_consecutive_seq(harbor: Harbor, key) -> None:  # type: ignore[no-untyped-def]
    response = harbor.ingest("f1", key, {"fixes": [fix("v2", speed_kmh=12.5), fix("v1"), fix("v3", heading_deg=None)]})
    assert response.status_code == 202
    assert response.json() == {"accepted": 3, "duplicates": 0}
    assert stored(harbor) == [("v1", 52.5, 13.4, None), ("v2", 52.5, 13.4, 12.5), ("v3", 52.5, 13.4, None)]
    events = harbor.sql("SELECT seq, vehicle_id FROM events WHERE fleet_id = 'f1' ORDER BY seq")
    assert events == [(1, "v2"), (2, "v1"), (3, "v3")]  # in the order of the request's fixes
    assert harbor.sql("SELECT seq, vehicle_count FROM fleets") == [(3, 3)]


def test_duplicates_are_counted_and_not_stored_again(harbor: Harbor, key) -> None:  # type: ignore[no-untyped-def]
    first = fix("v1", seconds_ago=5)
    assert harbor.ingest("f1", key, {"fixes": [first]}).json() == {"accepted": 1, "duplicates": 0}
    second = fix("v1", seconds_ago=3)
    again = harbor.ingest("f1", key, {"fixes": [first, second, second]})
    assert again.status_code == 202
    assert again.json() == {"accepted": 1, "duplicates": 2}
    assert len(stored(harbor)) == 2
    assert harbor.sql("SELECT max(seq), count(*) FROM events") == [(2, 2)]


def test_the_same_instant_in_another_offset_is_a_duplicate(harbor: Harbor, key) -> None:  # type: ignore[no-untyped-def]
    moment = datetime.now(UTC) - timedelta(seconds=10)
    in_utc = moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    in_plus_one = moment.astimezone(timezone(timedelta(hours=1))).isoformat()
    harbor.ingest("f1", key, {"fixes": [{"vehicle_id": "v1", "lat": 1, "lng": 2, "recorded_at": in_utc}]})
    again = {"vehicle_id": "v1", "lat": 1, "lng": 2, "recorded_at": in_plus_one}
    assert harbor.ingest("f1", key, {"fixes": [again]}).json() == {"accepted": 0, "duplicates": 1}


def test_explicit_null_optional_fields_are_absent_fields(harbor: Harbor, key) -> None:  # type: ignore[no-untyped-def]
    body = {"fixes": [fix("v1", speed_kmh=None, heading_deg=None, accuracy_m=None)]}
    assert harbor.ingest("f1", key, body).status_code == 202
    assert harbor.sql("SELECT speed_kmh, heading_deg, accuracy_m FROM fixes") == [(None, None, None)]


def test_invalid_fixes_list_every_problem_and_store_nothing(harbor: Harbor, key) -> None:  # type: ignore[no-untyped-def]
    body = {"fixes": [fix("ok"), fix("v2", lat=91), {"vehicle_id": "v3", "lat": "1", "lng": True, "recorded_at": "x"}]}
    response = harbor.ingest("f1", key, body)
    assert response.status_code == 422
    assert error_of(response) == "invalid_fixes"
    details = {(d["index"], d["field"]) for d in response.json()["error"]["details"]}
    assert details == {(1, "lat"), (2, "lat"), (2, "lng"), (2, "recorded_at")}
    assert stored(harbor) == []


@pytest.mark.parametrize(
    "body",
    [[], {"fixes": []}, {"fixes": "x"}, {}, {"fixes": [fix()], "extra": 1}, {"fixes": [fix()] * 1001}],
    ids=["not-object", "empty", "not-list", "missing", "extra-key", "too-many"],
)
def test_problems_with_the_whole_body_are_one_detail(harbor: Harbor, key, body) -> None:  # type: ignore[no-untyped-def]
    response = harbor.ingest("f1", key, body)
    assert response.status_code == 422
    details = response.json()["error"]["details"]
    assert len(details) == 1 and details[0]["index"] is None and details[0]["field"] == "fixes"


def test_fixes_outside_the_time_window_are_refused(harbor: Harbor, key) -> None:  # type: ignore[no-untyped-def]
    harbor.create_fleet("short", retention_days=1)
    short_key = harbor.create_key("short")
    future = harbor.ingest("f1", key, {"fixes": [fix(seconds_ago=-120)]})
    old = harbor.ingest("short", short_key, {"fixes": [fix(seconds_ago=2 * 86400)]})
    assert [future.status_code, old.status_code] == [422, 422]
    assert old.json()["error"]["details"][0]["field"] == "recorded_at"
    assert harbor.ingest("f1", key, {"fixes": [fix(seconds_ago=-30)]}).status_code == 202


def test_a_new_vehicle_past_the_fleet_cap_is_refused(harbor: Harbor) -> None:
    harbor.create_fleet("small", max_vehicles=2)
    key = harbor.create_key("small")
    assert harbor.ingest("small", key, {"fixes": [fix("a"), fix("b")]}).status_code == 202
    response = harbor.ingest("small", key, {"fixes": [fix("a", seconds_ago=0.5), fix("c")]})
    assert response.status_code == 422
    assert response.json()["error"]["details"] == [
        {"index": 1, "field": "vehicle_id", "message": "the fleet has reached its limit of 2 vehicles"}
    ]
    assert harbor.sql("SELECT count(*) FROM fixes") == [(2,)]  # all-or-nothing: not even the fix of "a"
    assert harbor.ingest("small", key, {"fixes": [fix("b", seconds_ago=0.2)]}).status_code == 202


@pytest.mark.parametrize(
    ("raw", "what"),
    [
        (b"{bad", "syntax"),
        (b'{"fixes": [\xff]}', "invalid utf-8"),
        (b'{"fixes": [{"vehicle_id": "v1", "lat": NaN}]}', "NaN"),
        (b'{"fixes": [{"lat": Infinity}]}', "Infinity"),
        (b'{"fixes": ' + b"[" * 40 + b"]" * 40 + b"}", "too deep"),
        (b"[" * 100_000 + b"]" * 100_000, "far too deep"),
        (b"", "empty"),
    ],
)
def test_malformed_json_is_400(harbor: Harbor, key, raw: bytes, what: str) -> None:  # type: ignore[no-untyped-def]
    response = harbor.ingest("f1", key, raw)
    assert response.status_code == 400, what
    assert error_of(response) == "malformed_json"


def test_a_number_overflowing_to_infinity_is_an_invalid_field(harbor: Harbor, key) -> None:  # type: ignore[no-untyped-def]
    raw = b'{"fixes": [{"vehicle_id": "v1", "lat": 1e999, "lng": 1, "recorded_at": "' + iso(1).encode() + b'"}]}'
    response = harbor.ingest("f1", key, raw)
    assert response.status_code == 422
    assert response.json()["error"]["details"][0]["field"] == "lat"


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded", "application/jsonx"])
def test_a_non_json_content_type_is_415(harbor: Harbor, key, content_type) -> None:  # type: ignore[no-untyped-def]
    raw = encode({"fixes": [fix()]})
    headers = signed_headers(key, raw)
    del headers["content-type"]
    if content_type:
        headers["content-type"] = content_type
    response = harbor.client.post(URL, content=raw, headers=headers)
    assert response.status_code == 415
    assert error_of(response) == "unsupported_media_type"


def test_a_charset_parameter_is_allowed(harbor: Harbor, key) -> None:  # type: ignore[no-untyped-def]
    response = harbor.ingest("f1", key, {"fixes": [fix()]}, **{"content-type": "application/json; charset=utf-8"})
    assert response.status_code == 202


def test_a_body_over_one_mebibyte_is_413(harbor: Harbor, key) -> None:  # type: ignore[no-untyped-def]
    raw = b'{"fixes": [], "pad": "' + b"x" * (1024 * 1024) + b'"}'
    response = harbor.client.post(URL, content=raw, headers=signed_headers(key, raw))
    assert response.status_code == 413
    assert error_of(response) == "body_too_large"

    def chunks():  # type: ignore[no-untyped-def]
        for _ in range(20):
            yield b"x" * 65536  # no Content-Length: counted while streaming

    streamed = harbor.client.post(URL, content=chunks(), headers=signed_headers(key, b""))
    assert streamed.status_code == 413


@pytest.mark.parametrize("missing", ["x-harbor-key", "x-harbor-timestamp", "x-harbor-signature"])
def test_each_missing_credential_header_is_401(harbor: Harbor, key, missing: str) -> None:  # type: ignore[no-untyped-def]
    raw = encode({"fixes": [fix()]})
    headers = signed_headers(key, raw)
    del headers[missing]
    response = harbor.client.post(URL, content=raw, headers=headers)
    assert response.status_code == 401
    assert error_of(response) == "missing_credentials"


def test_unknown_key_stale_timestamp_and_bad_signature_have_distinct_codes(harbor: Harbor, key) -> None:  # type: ignore[no-untyped-def]
    raw = encode({"fixes": [fix()]})
    unknown = harbor.client.post(URL, content=raw, headers={**signed_headers(key, raw), "x-harbor-key": "key-nope"})
    old_ts = str(int(time.time()) - 301)
    stale = harbor.client.post(URL, content=raw, headers=signed_headers(key, raw, timestamp=old_ts))
    not_integer = harbor.client.post(URL, content=raw, headers=signed_headers(key, raw, timestamp="1.5e9"))
    bad = harbor.client.post(URL, content=raw, headers={**signed_headers(key, raw), "x-harbor-signature": "v1=00"})
    assert [error_of(r) for r in (unknown, stale, not_integer, bad)] == [
        "unknown_key",
        "stale_timestamp",
        "stale_timestamp",
        "bad_signature",
    ]
    assert {r.status_code for r in (unknown, stale, not_integer, bad)} == {401}
    assert stored(harbor) == []


def test_any_of_several_signatures_may_match(harbor: Harbor, key) -> None:  # type: ignore[no-untyped-def]
    raw = encode({"fixes": [fix()]})
    ts = str(int(time.time()))
    good = sign(key.secret.encode(), ts, raw)
    headers = {**signed_headers(key, raw, ts), "x-harbor-signature": f"v1={'0' * 64}, v1={good}"}
    assert harbor.client.post(URL, content=raw, headers=headers).status_code == 202


def test_a_signature_over_another_body_is_refused(harbor: Harbor, key) -> None:  # type: ignore[no-untyped-def]
    raw = encode({"fixes": [fix()]})
    headers = signed_headers(key, encode({"fixes": [fix("other")]}))
    assert error_of(harbor.client.post(URL, content=raw, headers=headers)) == "bad_signature"


def test_unknown_fleet_is_404_and_a_fleet_not_allowed_is_403(harbor: Harbor, key) -> None:  # type: ignore[no-untyped-def]
    harbor.create_fleet("f2")
    missing = harbor.ingest("nope", key, {"fixes": [fix()]})
    forbidden = harbor.ingest("f2", key, {"fixes": [fix()]})
    assert (missing.status_code, error_of(missing)) == (404, "fleet_not_found")
    assert (forbidden.status_code, error_of(forbidden)) == (403, "fleet_forbidden")


def test_a_key_for_several_fleets_may_write_to_each(harbor: Harbor) -> None:
    harbor.create_fleet("a")
    harbor.create_fleet("b")
    key = harbor.create_key("a", "b")
    assert [harbor.ingest(f, key, {"fixes": [fix()]}).status_code for f in ("a", "b")] == [202, 202]


def test_errors_come_in_the_documented_order(harbor: Harbor, key) -> None:  # type: ignore[no-untyped-def]
    harbor.create_fleet("f2")
    bad_json = b"{bad"
    # 415 before 401: no content type and no credentials
    assert harbor.client.post(URL, content=bad_json).status_code == 415
    # 401 before 404: unknown key on an unknown fleet
    unsigned = {
        "content-type": "application/json",
        "x-harbor-key": "nope",
        "x-harbor-timestamp": "1",
        "x-harbor-signature": "v1=0",
    }
    assert error_of(harbor.client.post("/api/v1/fleets/nope/positions", content=bad_json, headers=unsigned)) == (
        "unknown_key"
    )
    # 404 before 403, 403 before 400, 400 before 422
    assert error_of(harbor.ingest("nope", key, bad_json)) == "fleet_not_found"
    assert error_of(harbor.ingest("f2", key, bad_json)) == "fleet_forbidden"
    assert error_of(harbor.ingest("f1", key, bad_json)) == "malformed_json"
    assert error_of(harbor.ingest("f1", key, {"fixes": []})) == "invalid_fixes"


def test_every_answer_carries_a_request_id(harbor: Harbor, key) -> None:  # type: ignore[no-untyped-def]
    given = harbor.ingest("f1", key, {"fixes": [fix()]}, **{"x-request-id": "abc-123"})
    generated = harbor.ingest("f1", key, b"{bad")
    assert given.headers["x-request-id"] == "abc-123"
    assert len(generated.headers["x-request-id"]) >= 16
    too_long = harbor.ingest("f1", key, b"{bad", **{"x-request-id": "x" * 129})
    assert too_long.headers["x-request-id"] != "x" * 129
    longest = harbor.ingest("f1", key, b"{bad", **{"x-request-id": "order 7/" + "y" * 120})
    assert longest.headers["x-request-id"] == "order 7/" + "y" * 120  # printable ASCII, spaces included
    assert harbor.client.get("/health", headers={"x-request-id": "abc"}).headers["x-request-id"] == "abc"
