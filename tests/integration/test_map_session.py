"""Signing in to the live map: token → HttpOnly session cookie; the stream accepts the cookie only
from this site's pages; the page and its vendored assets are served by the package."""

import json

import pytest
from starlette.testclient import WebSocketDenialResponse

from harbor_fleet.service.admin import IssuedToken
from helpers import Harbor


@pytest.fixture
def token(harbor: Harbor) -> IssuedToken:
    harbor.create_fleet("f1")
    harbor.create_fleet("f2")
    return harbor.create_token("f1")


def sign_in(harbor: Harbor, token: str):  # type: ignore[no-untyped-def]
    return harbor.client.post("/api/v1/session", json={"token": token})


def test_signing_in_sets_an_http_only_strict_cookie_and_no_token(harbor: Harbor, token: IssuedToken) -> None:
    response = sign_in(harbor, token.token)
    assert response.status_code == 200 and response.json() == {"fleets": ["f1"]}
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("harbor_session=") and "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert token.token not in cookie
    assert harbor.client.get("/api/v1/session").json() == {"fleets": ["f1"]}
    stored = harbor.sql("SELECT count(*) FROM operator_sessions")
    assert stored == [(1,)]


def test_a_bad_token_does_not_sign_in(harbor: Harbor, token: IssuedToken) -> None:
    response = sign_in(harbor, "nope")
    assert response.status_code == 401 and "set-cookie" not in response.headers
    assert harbor.client.get("/api/v1/session").status_code == 401
    assert (
        harbor.client.post("/api/v1/session", content=b"{}", headers={"content-type": "application/json"}).status_code
        == 401
    )


def test_the_session_opens_the_live_stream_from_this_origin_only(harbor: Harbor, token: IssuedToken) -> None:
    sign_in(harbor, token.token)
    same = {"origin": "http://testserver"}
    with harbor.client.websocket_connect("/api/v1/fleets/f1/live", headers=same) as ws:
        assert json.loads(ws.receive_text())["type"] == "snapshot"
    for origin in ({"origin": "http://evil.example"}, {}):
        with (
            pytest.raises(WebSocketDenialResponse) as refused,
            harbor.client.websocket_connect("/api/v1/fleets/f1/live", headers=origin),
        ):
            pass
        assert refused.value.status_code == 403
    with (
        pytest.raises(WebSocketDenialResponse) as other_fleet,
        harbor.client.websocket_connect("/api/v1/fleets/f2/live", headers=same),
    ):
        pass
    assert other_fleet.value.status_code == 403


def test_signing_out_ends_the_session(harbor: Harbor, token: IssuedToken) -> None:
    sign_in(harbor, token.token)
    response = harbor.client.delete("/api/v1/session")
    assert response.status_code == 204
    assert harbor.client.get("/api/v1/session").status_code == 401
    assert harbor.sql("SELECT count(*) FROM operator_sessions") == [(0,)]


def test_the_map_page_and_its_assets_are_served_from_the_package(harbor: Harbor) -> None:
    page = harbor.client.get("/fleets/f1/map")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "/static/vendor/leaflet-1.9.4/leaflet.js" in page.text and "f1" in page.text
    assert "https://unpkg" not in page.text and "cdn" not in page.text.lower()
    for asset in (
        "/static/vendor/leaflet-1.9.4/leaflet.js",
        "/static/vendor/leaflet-1.9.4/leaflet.css",
        "/static/map.js",
        "/static/map.css",
    ):
        assert harbor.client.get(asset).status_code == 200, asset
    assert harbor.client.get("/fleets/bad id/map").status_code == 404
