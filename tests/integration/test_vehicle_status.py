"""Vehicle status events (DESIGN 2.7): `offline` once a vehicle's threshold passes with no newer fix,
`online` when a fix within the threshold arrives for an offline vehicle; the first fix sets the status
without an event; exactly one event per transition, also with several processes sweeping."""

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from harbor_fleet.service.admin import IssuedKey, IssuedToken
from helpers import Harbor, bearer, eventually, fix, running_harbor

URL = "/api/v1/fleets/f1/live"
THRESHOLD_S = 1


@pytest.fixture
def creds(harbor: Harbor) -> tuple[IssuedKey, IssuedToken]:
    harbor.create_fleet("f1", offline_after_s=THRESHOLD_S)
    return harbor.create_key("f1"), harbor.create_token("f1")


def status_events(database_url: str) -> list[tuple[int, str, str, datetime]]:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT seq, vehicle_id, status, recorded_at FROM events WHERE type = 'vehicle_status' ORDER BY seq"
        ).fetchall()
    return [(int(seq), str(vehicle), str(status), at) for seq, vehicle, status, at in rows]


def sweeps_after(database_url: str, instant: datetime) -> int:
    """How many periodic sweeps the queue deferred for a second later than `instant`."""
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT max(defer_timestamp) FROM procrastinate_periodic_defers WHERE task_name = 'harbor:sweep_offline'"
        ).fetchone()
    latest = row[0] if row else None
    return 0 if latest is None else int(latest - instant.timestamp())


def parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_a_silent_vehicle_goes_offline_once_and_a_fix_brings_it_back(harbor: Harbor, creds) -> None:  # type: ignore[no-untyped-def]
    key, token = creds
    first = fix("v1", seconds_ago=0)
    with harbor.client.websocket_connect(URL, headers=bearer(token)) as ws:
        assert json.loads(ws.receive_text())["type"] == "snapshot"
        assert harbor.ingest("f1", key, {"fixes": [first]}).status_code == 202
        assert json.loads(ws.receive_text())["seq"] == 1  # the first fix: a position, no status event
        eventually(lambda: len(status_events(harbor.database_url)) == 1, timeout=10)
        offline = json.loads(ws.receive_text())
        assert offline == {
            "type": "vehicle_status",
            "seq": 2,
            "vehicle_id": "v1",
            "status": "offline",
            "at": iso_of(parse(first["recorded_at"]) + timedelta(seconds=THRESHOLD_S)),
        }
        assert harbor.status("f1", token).json()["vehicles"][0]["status"] == "offline"
        back = fix("v1", seconds_ago=0)
        assert harbor.ingest("f1", key, {"fixes": [back]}).status_code == 202
        position, online = json.loads(ws.receive_text()), json.loads(ws.receive_text())
    assert (position["type"], position["seq"]) == ("position", 3)
    assert online == {
        "type": "vehicle_status",
        "seq": 4,
        "vehicle_id": "v1",
        "status": "online",
        "at": back["recorded_at"],
    }
    assert [(seq, status) for seq, _, status, _ in status_events(harbor.database_url)[:2]] == [
        (2, "offline"),
        (4, "online"),
    ]


def test_a_first_fix_older_than_the_threshold_sets_offline_without_an_event(harbor: Harbor, creds) -> None:  # type: ignore[no-untyped-def]
    key, token = creds
    started = datetime.now(UTC)
    assert harbor.ingest("f1", key, {"fixes": [fix("old", seconds_ago=30)]}).status_code == 202
    eventually(lambda: sweeps_after(harbor.database_url, started) >= 2, timeout=10)
    assert status_events(harbor.database_url) == []
    assert harbor.status("f1", token).json()["vehicles"][0]["status"] == "offline"
    with harbor.client.websocket_connect(f"{URL}?since=1", headers=bearer(token)) as ws:
        assert harbor.ingest("f1", key, {"fixes": [fix("old", seconds_ago=0)]}).status_code == 202
        frames = [json.loads(ws.receive_text()) for _ in range(2)]
    assert [(f["type"], f["seq"]) for f in frames] == [("position", 2), ("vehicle_status", 3)]
    assert frames[1]["status"] == "online"


def test_a_fix_older_than_the_threshold_moves_an_offline_vehicle_but_leaves_it_offline(harbor: Harbor, creds) -> None:  # type: ignore[no-untyped-def]
    key, token = creds
    first = fix("v1", seconds_ago=0)
    assert harbor.ingest("f1", key, {"fixes": [first]}).status_code == 202
    eventually(lambda: len(status_events(harbor.database_url)) == 1, timeout=10)
    recorded = parse(first["recorded_at"])
    eventually(lambda: sweeps_after(harbor.database_url, recorded + timedelta(seconds=THRESHOLD_S + 0.5)) >= 1)
    late = {**first, "recorded_at": iso_of(recorded + timedelta(seconds=0.25))}  # newer, yet past the threshold
    assert harbor.ingest("f1", key, {"fixes": [late]}).status_code == 202
    vehicle = harbor.status("f1", token).json()["vehicles"][0]
    assert (vehicle["recorded_at"], vehicle["status"]) == (late["recorded_at"], "offline")
    assert [status for _, _, status, _ in status_events(harbor.database_url)] == ["offline"]


@pytest.fixture
def two_processes(database_url: str) -> Iterator[tuple[Harbor, Harbor]]:
    with running_harbor(database_url, pubsub="postgres") as one, running_harbor(database_url, pubsub="postgres") as two:
        yield one, two


def test_two_processes_announce_each_transition_once(two_processes: tuple[Harbor, Harbor]) -> None:
    one, two = two_processes
    one.create_fleet("f1", offline_after_s=THRESHOLD_S)
    key, token = one.create_key("f1"), one.create_token("f1")
    vehicles = [f"v{n}" for n in range(20)]
    assert one.ingest("f1", key, {"fixes": [fix(v, seconds_ago=0) for v in vehicles]}).status_code == 202
    eventually(lambda: len(status_events(one.database_url)) == len(vehicles), timeout=10)
    settled = datetime.now(UTC)
    eventually(lambda: sweeps_after(one.database_url, settled) >= 3, timeout=10)  # more sweeps, on both
    offline = status_events(one.database_url)
    assert sorted(vehicle for _, vehicle, _, _ in offline) == sorted(vehicles)
    assert [seq for seq, _, _, _ in offline] == list(range(21, 41))
    assert two.ingest("f1", key, {"fixes": [fix(v, seconds_ago=0) for v in vehicles[:5]]}).status_code == 202
    online = [e for e in status_events(one.database_url) if e[2] == "online"]
    assert sorted(vehicle for _, vehicle, _, _ in online) == vehicles[:5]
    eventually(lambda: one.status("f1", token).json()["seq"] == 50)  # 40 + 5 positions + 5 online events


def iso_of(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
