"""The service against its own OpenAPI document (web/openapi.json, served at GET /openapi.json).

Schemathesis generates requests from the document, valid and invalid (its coverage phase adds missing
headers, wrong types, unlisted methods...), and calls the ASGI app in-process over a real migrated database.
Every answer must be a documented status with a documented content type, headers and body (the error body for
every non-2xx), never a 500; and an ingest not answered 202 stores nothing.

Generated credentials and ids would only ever meet 401 and 404, so most cases are aimed at real ones before
they are sent: fleet f1 (f2 exists but is no credential's: 403), vehicle v1, the operator token, a map session,
recent fix times; and a requests auth signs ingest bodies with a real key over the exact bytes sent. Which cases
get what is a hash of what was generated, so a failing case replays the same way.
"""

import base64
import hashlib
import json
import time
from collections.abc import Callable, Iterator, MutableMapping
from dataclasses import dataclass, field
from importlib.resources import files

import psycopg
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Err, Ok
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    missing_required_header,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
)
from starlette.routing import Route

from harbor_fleet.domain.signing import sign
from harbor_fleet.service import errors
from harbor_fleet.service.admin import IssuedKey, IssuedToken
from harbor_fleet.service.device_admin import DeviceAdmin, IssuedDevice
from harbor_fleet.web.app import create_app
from harbor_fleet.web.fast import DirectApi
from helpers import Harbor, fix, running_harbor, settings_for

DOCUMENT = json.loads(files("harbor_fleet.web").joinpath("openapi.json").read_text())
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    missing_required_header,
    unsupported_method,
]
# The map page and its assets are for browsers, not API clients; the live stream is a WebSocket route.
UNDOCUMENTED_PATHS = ("/static", "/fleets/{fleet_id}/map")

# The document


def test_the_served_document_is_valid_openapi_and_lists_every_route(harbor: Harbor) -> None:
    response = harbor.client.get("/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    document = response.json()
    assert document == DOCUMENT  # what the property test below runs on
    schema = schemathesis.openapi.from_dict(document)
    schema.validate()  # against the OpenAPI 3.1 meta-schema
    results = list(schema.get_all_operations())
    assert [str(result.err()) for result in results if isinstance(result, Err)] == []
    loaded = {(result.ok().path, result.ok().method.lower()) for result in results if isinstance(result, Ok)}

    routes = harbor.client.app._fallback.routes  # the Starlette app behind the fast path (web/fast.py)
    served = {
        (route.path, method.lower())
        for route in routes
        if isinstance(route, Route) and not route.path.startswith(UNDOCUMENTED_PATHS)
        for method in route.methods or ()
        if method != "HEAD"
    }
    documented = {(path, method) for path, item in document["paths"].items() for method in item}
    assert served == documented == loaded


def test_every_error_code_of_the_http_api_is_documented(harbor: Harbor) -> None:
    text = harbor.client.get("/openapi.json").text
    codes = {
        value.code
        for value in vars(errors).values()
        if isinstance(value, type) and issubclass(value, errors.ServiceError) and value is not errors.ServiceError
    }
    codes -= {"origin_forbidden"}  # refuses a live stream's handshake only
    codes |= {"not_found", "method_not_allowed", "not_ready"}  # the router's and /ready's
    codes |= {"request_timeout", "headers_too_large", "malformed_request"}  # the connection guard's (web/protocol.py)
    assert sorted(code for code in codes if f'"{code}"' not in text) == []


# The property test: one pytest item per operation, each on a fresh database

schema = schemathesis.openapi.from_dict(DOCUMENT)


@dataclass
class World:
    """The real credentials, and what the database should hold: fixes accepted so far, vehicles seen."""

    key: IssuedKey
    token: IssuedToken
    session: str
    database_url: str
    device: IssuedDevice
    accepted: int = 3  # stored fixes, counting those stored while setting up
    vehicles: set[str] = field(default_factory=lambda: {"v1"})


@pytest.fixture
def world(database_url: str) -> World:
    with running_harbor(database_url) as harbor:
        harbor.create_fleet("f1")
        harbor.create_fleet("f2")
        key, token = harbor.create_key("f1"), harbor.create_token("f1")
        seeded = {"fixes": [fix("v1", seconds_ago=s, lat=s, heading_deg=90) for s in (30, 20, 10)]}
        assert harbor.ingest("f1", key, seeded).status_code == 202
        signed_in = harbor.client.post("/api/v1/session", json={"token": token.token})
        assert signed_in.status_code == 200
        device = harbor.call(DeviceAdmin(harbor.application.admin.store).create, "f1", "phone-1")
        return World(key, token, signed_in.cookies["harbor_session"], database_url, device)


@pytest.fixture
def app(world: World) -> DirectApi:
    """The app under test; schemathesis runs its lifespan on first call and ends it with the test. Without
    the job worker: Hypothesis fails a test when the global `random` changes while it draws, and the worker's
    connection pool draws from it (psycopg_pool's jitter) whenever it opens a connection, in the background."""
    return create_app(settings_for(world.database_url, jobs_in_serve=False))


@pytest.fixture
def stored(world: World) -> Iterator[Callable[[], tuple[int, int]]]:
    """How many rows the fixes and vehicles tables hold right now."""
    with psycopg.connect(world.database_url, autocommit=True) as conn:

        def counts() -> tuple[int, int]:
            row = conn.execute("SELECT (SELECT count(*) FROM fixes), (SELECT count(*) FROM vehicles)").fetchone()
            assert row is not None
            return row[0], row[1]

        yield counts


@schema.parametrize()
@settings(
    max_examples=60,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_every_answer_is_documented_and_rejected_ingests_store_nothing(
    case: schemathesis.Case, app: DirectApi, world: World, stored: Callable[[], tuple[int, int]]
) -> None:
    extra_headers = _aim(case, world)
    response = case.call_and_validate(app=app, checks=CHECKS, headers=extra_headers, auth=Signer(world.key))
    if case.operation.path.endswith("/positions"):
        if response.status_code == 202:
            world.accepted += response.json()["accepted"]
            world.vehicles |= {fix["vehicle_id"] for fix in json.loads(response.request.body)["fixes"]}
        assert stored() == (world.accepted, len(world.vehicles)), f"{response.status_code} {response.text[:300]}"


def _share(salt: str, *generated: object) -> float:
    """A number in [0, 1) fixed by what was generated."""
    digest = hashlib.sha256(repr((salt, *generated)).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def _aim(case: schemathesis.Case, world: World) -> dict[str, str]:
    """Point most cases at real things; the rest keep what was generated (404s, 401s...). Returns headers
    to send besides the case's: the client's own defaults (Accept: */*) would override the case's."""
    generated = repr((case.method, case.path, case.path_parameters, case.headers, case.query, case.cookies, case.body))
    parameters = case.path_parameters if isinstance(case.path_parameters, MutableMapping) else {}
    headers = case.headers if isinstance(case.headers, MutableMapping) else {}
    if "fleet_id" in parameters:
        share = _share("fleet", generated)
        parameters["fleet_id"] = "f1" if share < 0.75 else "f2" if share < 0.85 else parameters["fleet_id"]
    if "vehicle_id" in parameters and _share("vehicle", generated) < 0.6:
        parameters["vehicle_id"] = "v1"
    if "Authorization" in headers and _share("token", generated) < 0.8:
        headers["Authorization"] = f"Bearer {world.token.token}"
    if case.path.endswith("/positions") and _share("recent", generated) < 0.6:
        _make_recent(case.body)
    if case.path == "/api/v1/session":
        _aim_session(case, world, _share("session", generated))
    if case.path in ("/api/v1/osmand", "/api/v1/owntracks"):
        _aim_device(case, world, _share("device", generated))
    if case.path.endswith("/track") and _share("accept", generated) < 0.3:
        return {"Accept": "application/geo+json"}
    return {}


def _aim_session(case: schemathesis.Case, world: World, share: float) -> None:
    if case.method == "POST" and isinstance(case.body, dict) and share < 0.5:
        case.body["token"] = world.token.token
    cookies = case.cookies if isinstance(case.cookies, MutableMapping) else {}
    # DELETE keeps its generated cookie, so that the session lives on for GET.
    if case.method == "GET" and "harbor_session" in cookies and share < 0.7:
        cookies["harbor_session"] = world.session


def _aim_device(case: schemathesis.Case, world: World, share: float) -> None:
    """Most device reports that carry a credential carry the real one (the rest stay 401s), many a position
    near now. A case without one keeps it so: it checks that a missing credential is refused."""
    if share >= 0.8:
        return
    if case.path.endswith("/owntracks"):
        headers = case.headers if isinstance(case.headers, MutableMapping) else {}
        if "Authorization" not in headers:
            return
        credentials = f"{world.device.device_id}:{world.device.token}".encode()
        headers["Authorization"] = "Basic " + base64.b64encode(credentials).decode()
        if isinstance(case.body, dict) and share < 0.4:
            case.body.update({"_type": "location", "tst": int(time.time()) - 5})
        return
    if isinstance(case.body, list):  # the SDK's batch: every position names the device
        for item in case.body:
            if isinstance(item, dict):
                item["id"] = world.device.token
                if share < 0.4:
                    item["timestamp"] = int(time.time()) - 5
        return
    query = case.query if isinstance(case.query, MutableMapping) else {}
    if "id" not in query:
        return
    query["id"] = world.device.token
    if share < 0.4:
        query["timestamp"] = str(int(time.time()) - 5)


def _make_recent(body: object) -> None:
    """Generated times are mostly outside the fleet's retention: move the fixes' times into the last hour."""
    fixes = body.get("fixes") if isinstance(body, dict) else None
    for index, item in enumerate(fixes if isinstance(fixes, list) else []):
        if isinstance(item, dict) and isinstance(item.get("recorded_at"), str):
            item["recorded_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 60 - index))


class Signer(requests.auth.AuthBase):
    """Signs an ingest request that carries the three headers with the real key, over the exact bytes sent
    (DESIGN 2.1). One in ten keeps the generated key (unknown_key); one in ten each gets the real key with the
    generated timestamp (stale_timestamp) or with the generated signature (bad_signature)."""

    HEADERS = ("X-Harbor-Key", "X-Harbor-Timestamp", "X-Harbor-Signature")

    def __init__(self, key: IssuedKey) -> None:
        self.key = key

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        path = (request.path_url or "").split("?")[0]
        if not path.endswith("/positions") or not all(name in request.headers for name in self.HEADERS):
            return request
        body = request.body if isinstance(request.body, bytes) else (request.body or "").encode()
        share = _share("sign", body, [request.headers[name] for name in self.HEADERS])
        if share < 0.9:
            request.headers["X-Harbor-Key"] = self.key.key_id
        if share < 0.7 or 0.8 <= share < 0.9:
            request.headers["X-Harbor-Timestamp"] = str(int(time.time()))
        if share < 0.7:
            timestamp = request.headers["X-Harbor-Timestamp"]
            request.headers["X-Harbor-Signature"] = "v1=" + sign(self.key.secret.encode(), timestamp, body)
        return request
