"""Hostile input to signed ingest: whatever the body or headers, the answer is a documented status with
the error body (never a 500), and a request that is not accepted stores nothing. Properties over generated
bodies and headers (hypothesis), then the named cases: repeated keys, huge numbers, invalid UTF-8."""

import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harbor_fleet.service.admin import IssuedKey
from helpers import Harbor, encode, fix, iso, running_harbor, signed_headers

ERROR_CODES = {
    400: {"malformed_json"},
    401: {"missing_credentials", "unknown_key", "stale_timestamp", "bad_signature"},
    403: {"fleet_forbidden"},
    404: {"fleet_not_found"},
    413: {"body_too_large"},
    415: {"unsupported_media_type"},
    422: {"invalid_fixes"},
}
PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=20,
)
fix_values = st.fixed_dictionaries(
    {
        "vehicle_id": st.one_of(st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9._:-]{0,70}\Z"), json_values),
        "lat": st.one_of(st.floats(-100, 100), json_values),
        "lng": st.one_of(st.floats(-200, 200), json_values),
        "recorded_at": st.one_of(st.just(iso(5)), st.text(max_size=30), json_values),
    },
    optional={
        "speed_kmh": st.one_of(st.floats(), st.integers(), st.none()),
        "heading_deg": st.one_of(st.floats(-10, 400), st.none()),
        "accuracy_m": st.one_of(st.floats(-5, 1e6), st.none()),
        "extra": json_values,
    },
)
bodies = st.one_of(
    st.fixed_dictionaries({"fixes": st.lists(fix_values, max_size=5)}),
    st.fixed_dictionaries({"fixes": st.lists(fix_values, max_size=3)}, optional={"more": json_values}),
    json_values,
)


@pytest.fixture
def harbor(database_url: str) -> Iterator[Harbor]:
    """Without the job worker: Hypothesis fails a test when the global `random` changes while it draws, and
    the worker's connection pool draws from it (psycopg_pool's jitter) when it opens a connection."""
    with running_harbor(database_url, jobs_in_serve=False) as running:
        yield running


@pytest.fixture
def key(harbor: Harbor) -> IssuedKey:
    harbor.create_fleet("f1")
    return harbor.create_key("f1")


def stored(harbor: Harbor) -> int:
    return int(harbor.sql("SELECT count(*) FROM fixes")[0][0])


def assert_documented(response: Any) -> None:
    assert response.status_code == 202 or response.status_code in ERROR_CODES, response.text
    body = response.json()
    if response.status_code != 202:
        assert body["error"]["code"] in ERROR_CODES[response.status_code], body
        assert isinstance(body["error"]["message"], str) and body["error"]["message"]


def post_raw(harbor: Harbor, key: IssuedKey, raw: bytes, **headers: str) -> Any:
    return harbor.client.post(
        "/api/v1/fleets/f1/positions", content=raw, headers={**signed_headers(key, raw), **headers}
    )


@PROPERTY
@given(body=bodies)
def test_any_signed_json_body_gets_a_documented_answer_and_stores_only_when_accepted(
    harbor: Harbor, key: IssuedKey, body: object
) -> None:
    before = stored(harbor)
    response = harbor.ingest("f1", key, body)
    assert_documented(response)
    after = stored(harbor)
    if response.status_code == 202:
        assert after - before == response.json()["accepted"]
    else:
        assert response.status_code in (400, 422) and after == before


@PROPERTY
@given(raw=st.binary(max_size=300) | st.text(max_size=200).map(str.encode))
def test_any_signed_bytes_get_a_documented_answer_and_store_nothing(harbor: Harbor, key: IssuedKey, raw: bytes) -> None:
    before = stored(harbor)
    response = post_raw(harbor, key, raw)
    assert_documented(response)
    assert response.status_code in (400, 422) and stored(harbor) == before


header_values = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=80)


@PROPERTY
@given(
    headers=st.fixed_dictionaries(
        {},
        optional={
            "x-harbor-key": header_values,
            "x-harbor-timestamp": st.one_of(header_values, st.integers(-(10**20), 10**20).map(str)),
            "x-harbor-signature": st.one_of(header_values, st.text("0123456789abcdef", max_size=70).map("v1=".__add__)),
            "content-type": st.one_of(header_values, st.just("application/json")),
        },
    )
)
def test_any_credential_headers_get_a_documented_answer_and_store_nothing(
    harbor: Harbor, key: IssuedKey, headers: dict[str, str]
) -> None:
    raw = encode({"fixes": [fix()]})
    before = stored(harbor)
    response = harbor.client.post("/api/v1/fleets/f1/positions", content=raw, headers=headers)
    assert_documented(response)
    assert response.status_code != 202 and stored(harbor) == before


def details(response: Any) -> list[dict[str, Any]]:
    assert response.status_code == 422, response.text
    return list(response.json()["error"]["details"])


def test_a_key_repeated_in_a_fix_is_refused_naming_it(harbor: Harbor, key: IssuedKey) -> None:
    at = iso(2)
    raw = f'{{"fixes": [{{"vehicle_id": "v1", "lat": 1, "lng": 2, "recorded_at": "{at}"}},'
    raw += f'{{"vehicle_id": "v2", "lat": 1, "lat": 89, "lng": 2, "recorded_at": "{at}"}}]}}'
    assert details(post_raw(harbor, key, raw.encode())) == [
        {"index": 1, "field": "lat", "message": 'the key "lat" appears more than once'}
    ]
    assert stored(harbor) == 0


def test_a_repeat_hidden_behind_an_escape_or_a_null_is_found(harbor: Harbor, key: IssuedKey) -> None:
    at = iso(2)
    escaped = f'{{"fixes": [{{"vehicle_id": "v1", "l\\u0061t": 5, "lat": 1, "lng": 2, "recorded_at": "{at}"}}]}}'
    nulled = '{"fixes": [{"vehicle_id": "v1", "speed_kmh": 5, "speed_kmh": null, "lat": 1, "lng": 2, '
    nulled += f'"recorded_at": "{at}"}}]}}'
    assert [d["field"] for d in details(post_raw(harbor, key, escaped.encode()))] == ["lat"]
    assert [d["field"] for d in details(post_raw(harbor, key, nulled.encode()))] == ["speed_kmh"]
    assert stored(harbor) == 0


def test_a_repeated_top_level_key_is_one_body_problem(harbor: Harbor, key: IssuedKey) -> None:
    one = json.dumps([fix("a")])
    raw = f'{{"fixes": {one}, "fixes": {one}}}'.encode()
    assert details(post_raw(harbor, key, raw)) == [
        {"index": None, "field": "fixes", "message": 'the key "fixes" appears more than once'}
    ]


@pytest.mark.parametrize(
    ("number", "field_message"),
    [
        ("1e400", "must be a finite number"),
        ("-1e400", "must be a finite number"),
        ("1" * 30, "must be at least -90 and at most 90"),
        ("9" * 5000, "must be a finite number"),  # past Python's digit limit for integers
        ("1e-400", None),  # underflows to 0: a valid latitude
    ],
)
def test_huge_and_tiny_numbers_have_clear_answers(
    harbor: Harbor, key: IssuedKey, number: str, field_message: str | None
) -> None:
    raw = f'{{"fixes": [{{"vehicle_id": "v1", "lat": {number}, "lng": 2, "recorded_at": "{iso(2)}"}}]}}'.encode()
    response = post_raw(harbor, key, raw)
    if field_message is None:
        assert response.status_code == 202 and harbor.sql("SELECT lat FROM fixes") == [(0.0,)]
    else:
        assert details(response) == [{"index": 0, "field": "lat", "message": field_message}]


@pytest.mark.parametrize(
    ("raw", "what"),
    [
        (b'{"fixes": [{"vehicle_id": "v\xed\xa0\x80", "lat": 1}]}', "an encoded surrogate (invalid UTF-8)"),
        (b'{"fixes": [{"\\ud800": 1}]}', "a lone surrogate escape"),
        (b'\xef\xbb\xbf{"fixes": []}', "a byte order mark"),
        (b'{"fixes": [{"vehicle_id": "v1\x01"}]}', "a control character in a string"),
        (b'{"fixes": [01]}', "a leading zero"),
        (b'{"fixes": [-Infinity]}', "-Infinity"),
    ],
)
def test_what_is_not_json_is_400(harbor: Harbor, key: IssuedKey, raw: bytes, what: str) -> None:
    response = post_raw(harbor, key, raw)
    assert response.status_code == 400, what
    assert response.json()["error"]["code"] == "malformed_json"


def test_a_thousand_fixes_with_explicit_nulls_take_the_thorough_path_and_are_accepted(
    harbor: Harbor, key: IssuedKey
) -> None:
    fixes = [fix(f"v{i % 50}", seconds_ago=1 + i / 1000, speed_kmh=None, accuracy_m=3.0) for i in range(1000)]
    response = harbor.ingest("f1", key, {"fixes": fixes})
    assert response.status_code == 202 and response.json() == {"accepted": 1000, "duplicates": 0}
    assert harbor.sql("SELECT count(*) FROM fixes WHERE speed_kmh IS NULL AND accuracy_m = 3") == [(1000,)]


def test_a_key_id_that_is_no_identifier_is_unknown_not_a_failure(harbor: Harbor, key: IssuedKey) -> None:
    raw = encode({"fixes": [fix()]})
    for key_id in ("key\x00nul", "k" * 300, "key id with spaces"):
        response = harbor.client.post(
            "/api/v1/fleets/f1/positions", content=raw, headers={**signed_headers(key, raw), "x-harbor-key": key_id}
        )
        assert response.status_code == 401 and response.json()["error"]["code"] == "unknown_key"


def test_a_sign_in_body_over_one_mebibyte_is_413(harbor: Harbor, key: IssuedKey) -> None:
    body = b'{"token": "' + b"a" * (2 * 1024 * 1024) + b'"}'
    response = harbor.client.post("/api/v1/session", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 413 and response.json()["error"]["code"] == "body_too_large"
