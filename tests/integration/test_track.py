"""Track (DESIGN 2.3, 2.8): a vehicle's stored fixes in time order, JSON and GeoJSON, paged."""

import pytest

from harbor_fleet.service.admin import IssuedToken
from helpers import Harbor, bearer, fix, iso

URL = "/api/v1/fleets/f1/vehicles/v1/track"


@pytest.fixture
def token(harbor: Harbor) -> IssuedToken:
    harbor.create_fleet("f1")
    key = harbor.create_key("f1")
    fixes = [fix("v1", seconds_ago=s, lat=s) for s in (50, 40, 30, 20, 10)] + [fix("v2", seconds_ago=15)]
    assert harbor.ingest("f1", key, {"fixes": fixes}).status_code == 202
    return harbor.create_token("f1")


def test_track_returns_fixes_in_time_order(harbor: Harbor, token: IssuedToken) -> None:
    body = harbor.client.get(URL, headers=bearer(token)).json()
    assert body["fleet_id"] == "f1" and body["vehicle_id"] == "v1" and body["next_from"] is None
    assert [f["lat"] for f in body["fixes"]] == [50, 40, 30, 20, 10]
    assert list(body["fixes"][0]) == ["recorded_at", "lat", "lng", "speed_kmh", "heading_deg", "accuracy_m"]


def test_limit_and_next_from_page_through_the_track(harbor: Harbor, token: IssuedToken) -> None:
    first = harbor.client.get(URL, params={"limit": 2}, headers=bearer(token)).json()
    assert [f["lat"] for f in first["fixes"]] == [50, 40]
    second = harbor.client.get(URL, params={"limit": 2, "from": first["next_from"]}, headers=bearer(token)).json()
    assert [f["lat"] for f in second["fixes"]] == [30, 20]
    assert second["next_from"] is not None


def test_from_is_inclusive_and_to_exclusive(harbor: Harbor, token: IssuedToken) -> None:
    all_fixes = harbor.client.get(URL, headers=bearer(token)).json()["fixes"]
    window = {"from": all_fixes[1]["recorded_at"], "to": all_fixes[3]["recorded_at"]}
    body = harbor.client.get(URL, params=window, headers=bearer(token)).json()
    assert [f["lat"] for f in body["fixes"]] == [40, 30]


def test_geojson_is_a_feature_with_a_linestring(harbor: Harbor, token: IssuedToken) -> None:
    response = harbor.client.get(URL, params={"limit": 3}, headers={**bearer(token), "accept": "application/geo+json"})
    assert response.headers["content-type"].startswith("application/geo+json")
    feature = response.json()
    assert feature["type"] == "Feature"
    assert feature["geometry"] == {"type": "LineString", "coordinates": [[13.4, 50], [13.4, 40], [13.4, 30]]}
    assert feature["properties"]["fleet_id"] == "f1" and len(feature["properties"]["times"]) == 3
    assert feature["properties"]["next_from"] is not None


def test_geojson_geometry_is_null_with_fewer_than_two_fixes(harbor: Harbor, token: IssuedToken) -> None:
    headers = {**bearer(token), "accept": "application/geo+json"}
    feature = harbor.client.get(URL, params={"limit": 1}, headers=headers).json()
    assert feature["geometry"] is None


@pytest.mark.parametrize(
    "params",
    [
        {"limit": "0"},
        {"limit": "10001"},
        {"limit": "x"},
        {"from": "yesterday"},
        {"to": "2026-11-26T10:00:00"},
        [("limit", "1"), ("limit", "2")],
    ],
)
def test_bad_query_parameters_are_400(harbor: Harbor, token: IssuedToken, params) -> None:  # type: ignore[no-untyped-def]
    response = harbor.client.get(URL, params=params, headers=bearer(token))
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_query"


def test_unknown_vehicle_is_404(harbor: Harbor, token: IssuedToken) -> None:
    response = harbor.client.get("/api/v1/fleets/f1/vehicles/ghost/track", headers=bearer(token))
    assert (response.status_code, response.json()["error"]["code"]) == (404, "vehicle_not_found")


def test_a_known_vehicle_with_no_fixes_in_range_is_an_empty_track(harbor: Harbor, token: IssuedToken) -> None:
    body = harbor.client.get(URL, params={"from": iso(-10)}, headers=bearer(token)).json()
    assert body["fixes"] == [] and body["next_from"] is None


def test_track_needs_a_token_allowed_for_the_fleet(harbor: Harbor, token: IssuedToken) -> None:
    harbor.create_fleet("f2")
    other = harbor.create_token("f2")
    assert harbor.client.get(URL).json()["error"]["code"] == "missing_token"
    assert harbor.client.get(URL, headers=bearer(other)).status_code == 403
    assert harbor.client.get("/api/v1/fleets/x/vehicles/v1/track", headers=bearer(token)).status_code == 404
