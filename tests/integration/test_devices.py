"""Phone apps report straight to Harbor (DESIGN 2.9): each app's request as the app builds it, into the
same pipeline as signed ingest (validation, duplicates, acknowledgement after commit, status, live).

Request formats, by source: Traccar Client for Android builds the OsmAnd query in
traccar/traccar-client-android `app/src/main/java/org/traccar/client/ProtocolFormatter.kt` (id, timestamp
in seconds, lat, lon, speed in knots, bearing, altitude, accuracy, batt, charge); the newer cross-platform
client posts JSON (traccar/traccar-client), decoded by the server in traccar/traccar
`src/main/java/org/traccar/protocol/OsmAndProtocolDecoder.java`; OwnTracks posts `_type: location` JSON with
HTTP Basic credentials (owntracks/android, `MessageLocation`: lat, lon, tst, vel km/h, cog, acc, batt)."""

import base64
import json
import time
from functools import partial
from typing import Any

import pytest

from harbor_fleet.domain import owntracks_crypto
from harbor_fleet.service.admin import IssuedToken
from harbor_fleet.service.device_admin import DeviceAdmin, IssuedDevice
from helpers import Harbor, bearer, running_harbor

OSMAND = "/api/v1/osmand"
OWNTRACKS = "/api/v1/owntracks"


@pytest.fixture
def device(harbor: Harbor) -> IssuedDevice:
    harbor.create_fleet("f1")
    harbor.create_fleet("f2")
    issued: IssuedDevice = harbor.call(DeviceAdmin(harbor.application.admin.store).create, "f1", "van-7")
    return issued


@pytest.fixture
def token(harbor: Harbor, device: IssuedDevice) -> IssuedToken:
    return harbor.create_token("f1", "f2")


def stored(harbor: Harbor) -> list[tuple[Any, ...]]:
    return harbor.sql(
        "SELECT fleet_id, vehicle_id, lat, lng, speed_kmh, heading_deg, accuracy_m FROM fixes ORDER BY 1, 2"
    )


def listed(harbor: Harbor) -> dict[str, Any]:
    (device,) = harbor.call(DeviceAdmin(harbor.application.admin.store).list, "f1")
    return {"battery": device.battery_percent, "seen": device.last_seen_at, "rejection": device.last_rejection}


def basic(username: str, password: str) -> dict[str, str]:
    return {"authorization": "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()}


def test_a_traccar_client_query_is_stored_as_the_devices_vehicle(harbor: Harbor, device: IssuedDevice, token) -> None:  # type: ignore[no-untyped-def]
    now = int(time.time()) - 5
    query = {
        "id": device.token,
        "timestamp": str(now),
        "lat": "52.5",
        "lon": "13.4",
        "speed": "10",
        "bearing": "90",
        "altitude": "30",
        "accuracy": "5",
        "batt": "80.0",
    }
    answer = harbor.client.get(OSMAND, params=query)
    assert (answer.status_code, answer.content) == (200, b"")
    assert stored(harbor) == [("f1", "van-7", 52.5, 13.4, 18.52, 90.0, 5.0)]  # 10 knots = 18.52 km/h
    status = harbor.status("f1", token).json()["vehicles"]
    assert [vehicle["vehicle_id"] for vehicle in status] == ["van-7"]
    again = harbor.client.post(OSMAND, params=query)  # the app resends what it saw no 200 for: a duplicate
    assert again.status_code == 200 and len(stored(harbor)) == 1
    assert listed(harbor)["battery"] == 80.0 and listed(harbor)["seen"] is not None


def test_form_and_json_bodies_are_stored_too(harbor: Harbor, device: IssuedDevice) -> None:
    now = int(time.time())
    form = {"id": device.token, "timestamp": str(now - 20), "lat": "1.5", "lon": "2.5"}
    assert harbor.client.post(OSMAND, data=form).status_code == 200
    report = {
        "device_id": device.token,
        "location": {
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(now - 10)),
            "coords": {"latitude": 3.5, "longitude": 4.5, "speed": 5, "heading": -1, "accuracy": 7, "altitude": 1},
            "battery": {"level": 0.5, "is_charging": False},
        },
    }
    assert harbor.client.post(OSMAND, json=report).status_code == 200
    assert stored(harbor) == [
        ("f1", "van-7", 1.5, 2.5, None, None, None),
        ("f1", "van-7", 3.5, 4.5, 18.0, None, 7.0),  # 5 m/s = 18 km/h; heading -1 is unknown
    ]


def test_a_report_without_coordinates_is_a_heartbeat(harbor: Harbor, device: IssuedDevice) -> None:
    answer = harbor.client.get(OSMAND, params={"id": device.token, "batt": "42"})
    assert answer.status_code == 200 and stored(harbor) == []
    assert listed(harbor)["battery"] == 42.0 and listed(harbor)["seen"] is not None


def test_a_fix_no_retry_can_fix_is_dropped_with_its_reason(harbor: Harbor, device: IssuedDevice) -> None:
    before = harbor.client.get("/metrics").text
    answer = harbor.client.get(
        OSMAND, params={"id": device.token, "lat": "123.0", "lon": "2", "timestamp": "1700000000"}
    )
    assert answer.status_code == 200 and stored(harbor) == []  # the phone's queue moves on
    assert listed(harbor)["rejection"]
    old = harbor.client.get(OSMAND, params={"id": device.token, "lat": "1", "lon": "2", "timestamp": "946684800"})
    assert old.status_code == 200 and stored(harbor) == []  # the year 2000: outside the fleet's retention
    assert listed(harbor)["rejection"] == "recorded_at_outside_retention_or_future"
    assert (
        _count(harbor.client.get("/metrics").text, 'harbor_fixes_total{outcome="rejected"}')
        == _count(before, 'harbor_fixes_total{outcome="rejected"}') + 2
    )


def test_wrong_and_revoked_credentials_are_refused(harbor: Harbor, device: IssuedDevice) -> None:
    query = {"lat": "1", "lon": "2"}
    assert harbor.client.get(OSMAND, params=query).status_code == 401
    assert harbor.client.get(OSMAND, params={**query, "id": "not-a-device"}).status_code == 401
    harbor.call(DeviceAdmin(harbor.application.admin.store).revoke, device.device_id)
    refused = harbor.client.get(OSMAND, params={**query, "id": device.token})  # at once: never cached
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "invalid_token"
    assert stored(harbor) == []


def test_an_owntracks_location_is_stored_and_answered_with_an_array(harbor: Harbor, device: IssuedDevice) -> None:
    auth = basic(device.device_id, device.token)
    location = {
        "_type": "location",
        "lat": 52.1,
        "lon": 13.1,
        "tst": int(time.time()) - 3,
        "vel": 36,
        "cog": 180,
        "acc": 12,
        "alt": 40,
        "batt": 77,
        "tid": "zz",
        "SSID": "depot",
        "BSSID": "aa:bb",
    }
    headers = {**auth, "x-limit-u": "someone", "x-limit-d": "another-vehicle"}
    answer = harbor.client.post(OWNTRACKS, json=location, headers=headers)
    assert (answer.status_code, answer.json()) == (200, [])
    assert stored(harbor) == [("f1", "van-7", 52.1, 13.1, 36.0, 180.0, 12.0)]  # its own vehicle, whatever it says
    for other in ({"_type": "transition", "event": "enter"}, {"_type": "lwt", "tst": 1}, {"_type": "waypoint"}):
        assert harbor.client.post(OWNTRACKS, json=other, headers=auth).json() == []
    empty = harbor.client.post(OWNTRACKS, content=b"", headers=auth)
    assert (empty.status_code, empty.json()) == (200, [])
    assert len(stored(harbor)) == 1 and listed(harbor)["battery"] is not None


def test_owntracks_credentials_must_match(harbor: Harbor, device: IssuedDevice) -> None:
    location = {"_type": "location", "lat": 1.0, "lon": 2.0, "tst": int(time.time())}
    for headers in (basic(device.device_id, "wrong"), basic("dev-other", device.token), {}):
        refused = harbor.client.post(OWNTRACKS, json=location, headers=headers)
        assert refused.status_code == 401
        assert refused.headers["www-authenticate"].startswith("Basic realm=")  # the scheme that would do
    assert stored(harbor) == []
    assert "www-authenticate" not in harbor.client.get(OSMAND, params={"lat": "1", "lon": "2"}).headers


def sdk_position(token: str, seconds: int, lat: float, **more: object) -> dict[str, object]:
    """One item of the Traccar Client SDK's JSON upload, as traccar/traccar-client-sdk
    core/src/commonMain/kotlin/org/traccar/client/HttpUploader.kt builds it (`uploadJson`): the query
    form's names, JSON numbers, timestamp in seconds, speed in knots rounded to 2 decimals."""
    return {"id": token, "lat": lat, "lon": 13.4, "timestamp": seconds, "accuracy": 5.0, "altitude": 30.0, **more}


def test_the_sdks_json_batch_is_stored_in_one_answer(harbor: Harbor, device: IssuedDevice) -> None:
    now = int(time.time())
    batch = [
        sdk_position(device.token, now - 30, 52.1, speed=10.0, bearing=90.0, batt=70.0, charge=True),
        sdk_position(device.token, now - 20, 123.0),  # no retry can mend it: dropped, the others kept
        sdk_position(device.token, now - 10, 52.3, batt=65.0),
        {"id": device.token, "timestamp": now - 5, "batt": 64.0},  # a heartbeat: no coordinates
    ]
    answer = harbor.client.post(OSMAND, json=batch)
    assert (answer.status_code, answer.content) == (200, b"")
    assert stored(harbor) == [
        ("f1", "van-7", 52.1, 13.4, 18.52, 90.0, 5.0),
        ("f1", "van-7", 52.3, 13.4, None, None, 5.0),
    ]
    assert listed(harbor)["battery"] == 64.0 and listed(harbor)["rejection"] == "lat_out_of_range"
    again = harbor.client.post(OSMAND, json=batch)  # a failed upload is resent whole: duplicates
    assert again.status_code == 200 and len(stored(harbor)) == 2


def test_a_batch_is_one_devices_and_bounded(harbor: Harbor, device: IssuedDevice) -> None:
    now = int(time.time())
    other = harbor.call(DeviceAdmin(harbor.application.admin.store).create, "f1", "van-8")
    mixed = harbor.client.post(OSMAND, json=[sdk_position(device.token, now, 1.0), sdk_position(other.token, now, 2.0)])
    assert (mixed.status_code, mixed.json()["error"]["code"]) == (400, "mixed_devices")
    unknown_first = [sdk_position("not-a-device", now, 1.0), sdk_position(device.token, now, 2.0)]
    assert harbor.client.post(OSMAND, json=unknown_first).status_code == 401  # 401 before 400 (DESIGN 2.8)
    overlong = [sdk_position(device.token, now, 1.0), sdk_position("x" * 500, now, 2.0)]
    assert harbor.client.post(OSMAND, json=overlong).json()["error"]["code"] == "mixed_devices"
    huge = harbor.client.post(OSMAND, json=[sdk_position(device.token, now - i, 1.0) for i in range(1001)])
    assert (huge.status_code, huge.json()["error"]["code"]) == (413, "too_many_positions")
    anyones = harbor.client.post(OSMAND, json=[0] * 1001)  # refused before it is read, credential or not
    assert (anyones.status_code, anyones.json()["error"]["code"]) == (413, "too_many_positions")
    assert harbor.client.post(OSMAND, json=[]).status_code == 401  # no credential in it
    assert harbor.client.post(OSMAND, json=[sdk_position("not-a-device", now, 1.0)]).status_code == 401
    assert stored(harbor) == []


def test_a_late_resend_does_not_set_the_battery_back(harbor: Harbor, device: IssuedDevice) -> None:
    """The apps resend unacknowledged fixes oldest first, sometimes hours late: the battery shown is the
    newest reading's, whatever order the readings arrive in."""
    now = int(time.time())
    fresh = {"id": device.token, "lat": "1", "lon": "2", "timestamp": str(now - 10), "batt": "40"}
    assert harbor.client.get(OSMAND, params=fresh).status_code == 200
    late = {**fresh, "lat": "1.5", "timestamp": str(now - 3600), "batt": "95"}
    assert harbor.client.get(OSMAND, params=late).status_code == 200
    assert len(stored(harbor)) == 2 and listed(harbor)["battery"] == 40.0
    old_heartbeat = {"id": device.token, "timestamp": str(now - 600), "batt": "90"}
    assert harbor.client.get(OSMAND, params=old_heartbeat).status_code == 200
    assert listed(harbor)["battery"] == 40.0
    newer = {**fresh, "lat": "2", "timestamp": str(now - 1), "batt": "38"}
    assert harbor.client.get(OSMAND, params=newer).status_code == 200
    assert listed(harbor)["battery"] == 38.0
    # A clock far ahead dates its reading no later than its arrival, so it cannot hide every later one.
    ahead = {"id": device.token, "timestamp": "9999-12-31 00:00:00", "batt": "20"}
    assert harbor.client.get(OSMAND, params=ahead).status_code == 200 and listed(harbor)["battery"] == 20.0
    after = {"id": device.token, "batt": "19"}  # a heartbeat without a time: its arrival
    assert harbor.client.get(OSMAND, params=after).status_code == 200 and listed(harbor)["battery"] == 19.0


def test_a_device_fix_reaches_the_live_stream(harbor: Harbor, device: IssuedDevice, token: IssuedToken) -> None:
    with harbor.client.websocket_connect("/api/v1/fleets/f1/live", headers=bearer(token)) as ws:
        assert ws.receive_json()["type"] == "snapshot"
        params = {"id": device.token, "lat": "5", "lon": "6", "timestamp": str(int(time.time()) - 1)}
        assert harbor.client.get(OSMAND, params=params).status_code == 200
        frame = ws.receive_json()
    assert (frame["type"], frame["vehicle_id"], frame["lat"], frame["lng"]) == ("position", "van-7", 5.0, 6.0)


def _count(metrics: str, series: str) -> float:
    line = next((line for line in metrics.splitlines() if line.startswith(series + " ")), None)
    return 0.0 if line is None else float(line.split()[-1])


def test_a_broken_json_body_is_dropped_with_its_reason_not_refused(harbor: Harbor, device: IssuedDevice) -> None:
    """Traccar Client keeps a fix answered with anything but 2xx at the head of its queue for ever
    (traccar/traccar-client-sdk `HttpUploader.kt`): a body no retry can mend is answered 200."""
    broken = {"content-type": "application/json"}
    answer = harbor.client.post(OSMAND, params={"id": device.token}, content=b"{not json", headers=broken)
    assert (answer.status_code, stored(harbor), listed(harbor)["rejection"]) == (200, [], "body_not_json")
    nobody = harbor.client.post(OSMAND, content=b"{not json", headers=broken)
    assert nobody.status_code == 401  # no credential to say whose it was
    owntracks = harbor.client.post(OWNTRACKS, content=b"[1,", headers=basic(device.device_id, device.token))
    assert (owntracks.status_code, owntracks.json()) == (200, [])  # a 400 would block the app's queue behind it
    assert listed(harbor)["rejection"] == "body_not_json"


def test_a_device_over_its_rate_is_told_503_not_429(database_url: str) -> None:
    """OwnTracks for iOS deletes a fix answered with any 4xx and keeps one answered 5xx
    (owntracks/ios `Connection.m` `sendHTTP`)."""
    with running_harbor(database_url, rate_limit_per_second=0.001, rate_limit_burst=1) as harbor:
        harbor.create_fleet("f1")
        phone = harbor.call(DeviceAdmin(harbor.application.admin.store).create, "f1", "van-7")
        params = {"id": phone.token, "lat": "1", "lon": "2", "timestamp": str(int(time.time()) - 5)}
        assert harbor.client.get(OSMAND, params=params).status_code == 200
        busy = harbor.client.get(OSMAND, params={**params, "lat": "3"})
        assert busy.status_code == 503 and int(busy.headers["retry-after"]) >= 1


def test_owntracks_phones_see_the_fleet_only_when_it_says_so(harbor: Harbor, device: IssuedDevice) -> None:
    admin = DeviceAdmin(harbor.application.admin.store)
    harbor.create_fleet("crew", devices_see_fleet=True)
    van, bike = (
        harbor.call(admin.create, fleet, vehicle) for fleet, vehicle in (("crew", "van-1"), ("crew", "bike-9"))
    )
    now = int(time.time())
    assert (
        harbor.client.get(
            OSMAND, params={"id": van.token, "lat": "1", "lon": "2", "speed": "10", "timestamp": str(now - 9)}
        ).status_code
        == 200
    )
    location = {"_type": "location", "lat": 3.0, "lon": 4.0, "tst": now - 1}
    seen = harbor.client.post(OWNTRACKS, json=location, headers=basic(bike.device_id, bike.token)).json()
    assert seen == [
        {
            "_type": "location",
            "topic": "owntracks/crew/van-1",
            "tid": "n1",
            "lat": 1.0,
            "lon": 2.0,
            "tst": now - 9,
            "vel": 19,
        }
    ]  # the other vehicle, not itself; 10 knots = 18.52 km/h, rounded as the app shows it
    alone = harbor.client.post(OWNTRACKS, json=location, headers=basic(device.device_id, device.token)).json()
    assert alone == []  # fleet f1 keeps its vehicles to itself (the default)


def test_encrypted_owntracks_payloads_are_opened_with_the_devices_key(harbor: Harbor, device: IssuedDevice) -> None:
    admin = DeviceAdmin(harbor.application.admin.store)
    harbor.create_fleet("sealed", devices_see_fleet=True)
    phone = harbor.call(partial(admin.create, "sealed", "van-3", encrypt=True))
    other = harbor.call(admin.create, "sealed", "van-4")
    assert phone.owntracks_key and len(phone.owntracks_key) == 32
    now = int(time.time())
    assert (
        harbor.client.get(
            OSMAND, params={"id": other.token, "lat": "7", "lon": "8", "timestamp": str(now - 5)}
        ).status_code
        == 200
    )
    location = json.dumps({"_type": "location", "lat": 5.0, "lon": 6.0, "tst": now - 2}).encode()
    sealed = {"_type": "encrypted", "data": owntracks_crypto.encrypt(phone.owntracks_key, location)}
    answer = harbor.client.post(OWNTRACKS, json=sealed, headers=basic(phone.device_id, phone.token))
    assert answer.status_code == 200
    assert ("sealed", "van-3", 5.0, 6.0, None, None, None) in stored(harbor)
    sealed_answer = answer.json()  # one encrypted object around the whole array, as both apps open it
    assert sealed_answer["_type"] == "encrypted"
    (opened,) = json.loads(owntracks_crypto.decrypt(phone.owntracks_key, sealed_answer["data"]) or b"null")
    assert (opened["topic"], opened["lat"]) == ("owntracks/sealed/van-4", 7.0)
    plain = harbor.client.post(OWNTRACKS, content=location, headers=basic(phone.device_id, phone.token))
    assert plain.json()[0]["topic"] == "owntracks/sealed/van-4"  # a plain request gets a plain array
    wrong = {"_type": "encrypted", "data": owntracks_crypto.encrypt("not the key", location)}
    refused = harbor.client.post(OWNTRACKS, json=wrong, headers=basic(phone.device_id, phone.token))
    assert (refused.status_code, refused.json()) == (200, [])  # a 4xx would block the app's queue
    (listed_phone,) = [d for d in harbor.call(admin.list, "sealed") if d.device_id == phone.device_id]
    assert listed_phone.last_rejection == "payload_undecryptable"
