"""Status (DESIGN 2.2): from memory, sorted, online/offline by the fleet's threshold."""

import pytest

from harbor_fleet.service.admin import IssuedKey, IssuedToken
from helpers import Harbor, bearer, fix


@pytest.fixture
def creds(harbor: Harbor) -> tuple[IssuedKey, IssuedToken]:
    harbor.create_fleet("f1", offline_after_s=60)
    return harbor.create_key("f1"), harbor.create_token("f1")


def test_status_lists_latest_positions_sorted_with_status(harbor: Harbor, creds) -> None:  # type: ignore[no-untyped-def]
    key, token = creds
    body = {"fixes": [fix("b", seconds_ago=120, speed_kmh=30), fix("a", seconds_ago=5, heading_deg=90.5)]}
    assert harbor.ingest("f1", key, body).status_code == 202
    response = harbor.status("f1", token)
    assert response.status_code == 200
    status = response.json()
    assert list(status) == ["fleet_id", "as_of", "seq", "vehicles"]
    assert status["fleet_id"] == "f1" and status["seq"] == 2
    assert status["as_of"].endswith("Z") and len(status["as_of"]) == len("2026-11-26T09:30:00.250000Z")
    vehicles = status["vehicles"]
    assert [v["vehicle_id"] for v in vehicles] == ["a", "b"]
    assert [v["status"] for v in vehicles] == ["online", "offline"]
    assert vehicles[0] == {
        "vehicle_id": "a",
        "lat": 52.5,
        "lng": 13.4,
        "recorded_at": body["fixes"][1]["recorded_at"],
        "speed_kmh": None,
        "heading_deg": 90.5,
        "accuracy_m": None,
        "status": "online",
    }
    assert vehicles[1]["speed_kmh"] == 30


def test_a_late_fix_never_moves_a_vehicle_back(harbor: Harbor, creds) -> None:  # type: ignore[no-untyped-def]
    key, token = creds
    harbor.ingest("f1", key, {"fixes": [fix("a", seconds_ago=5, lat=10)]})
    assert harbor.status("f1", token).json()["vehicles"][0]["lat"] == 10  # the tracker is now running
    harbor.ingest("f1", key, {"fixes": [fix("a", seconds_ago=50, lat=20)]})
    status = harbor.status("f1", token).json()
    assert status["seq"] == 2
    assert status["vehicles"][0]["lat"] == 10
    assert harbor.sql("SELECT lat FROM vehicles") == [(10,)]


def test_status_reflects_each_accepted_request_at_once(harbor: Harbor, creds) -> None:  # type: ignore[no-untyped-def]
    key, token = creds
    for step in range(1, 6):
        harbor.ingest("f1", key, {"fixes": [fix("a", seconds_ago=10 - step, lat=step)]})
        status = harbor.status("f1", token).json()
        assert (status["seq"], status["vehicles"][0]["lat"]) == (step, step)


def test_an_empty_fleet_has_no_vehicles(harbor: Harbor, creds) -> None:  # type: ignore[no-untyped-def]
    _, token = creds
    assert harbor.status("f1", token).json()["vehicles"] == []


def test_token_problems_are_401_with_distinct_codes(harbor: Harbor, creds) -> None:  # type: ignore[no-untyped-def]
    url = "/api/v1/fleets/f1/status"
    missing = harbor.client.get(url)
    not_bearer = harbor.client.get(url, headers={"authorization": "Basic abc"})
    invalid = harbor.client.get(url, headers={"authorization": "Bearer nope"})
    assert [r.status_code for r in (missing, not_bearer, invalid)] == [401, 401, 401]
    assert [r.json()["error"]["code"] for r in (missing, not_bearer, invalid)] == [
        "missing_token",
        "missing_token",
        "invalid_token",
    ]


def test_unknown_fleet_is_404_before_forbidden_403(harbor: Harbor, creds) -> None:  # type: ignore[no-untyped-def]
    _, token = creds
    harbor.create_fleet("f2")
    assert harbor.client.get("/api/v1/fleets/nope/status", headers=bearer(token)).json()["error"]["code"] == (
        "fleet_not_found"
    )
    forbidden = harbor.client.get("/api/v1/fleets/f2/status", headers=bearer(token))
    assert (forbidden.status_code, forbidden.json()["error"]["code"]) == (403, "fleet_forbidden")


def test_a_token_for_several_fleets_reads_each(harbor: Harbor) -> None:
    harbor.create_fleet("a")
    harbor.create_fleet("b")
    token = harbor.create_token("a", "b")
    assert [harbor.status(f, token).status_code for f in ("a", "b")] == [200, 200]


def test_head_is_answered_like_get(harbor: Harbor, creds) -> None:  # type: ignore[no-untyped-def]
    _, token = creds
    head = harbor.client.head("/api/v1/fleets/f1/status", headers=bearer(token))
    assert head.status_code == 200 and head.headers["x-request-id"]
    assert harbor.client.head("/api/v1/fleets/f1/status").status_code == 401
