"""One contract, every bus backend: a process hears its own commits at once; processes sharing a database
hear each other's (status and live stream) without waiting for the periodic resync; a lost bus connection
shows on /ready, is reconnected, and what was committed meanwhile is caught up from PostgreSQL."""

import json
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
import redis

from helpers import Harbor, bearer, eventually, fix, running_harbor

NO_RESYNC = 3600.0  # only the bus can bring other processes' events within a test's deadlines


@pytest.fixture(params=["memory", "postgres", "redis"])
def pubsub(request: pytest.FixtureRequest) -> str:
    if request.param == "redis":
        return str(request.getfixturevalue("redis_url"))
    return str(request.param)


@pytest.fixture(params=["postgres", "redis"])
def shared_pubsub(request: pytest.FixtureRequest) -> str:
    if request.param == "redis":
        return str(request.getfixturevalue("redis_url"))
    return str(request.param)


def harbor(database_url: str, pubsub: str) -> Any:
    return running_harbor(database_url, pubsub=pubsub, tracker_resync_seconds=NO_RESYNC)


@pytest.fixture
def pair(database_url: str, shared_pubsub: str) -> Iterator[tuple[Harbor, Harbor]]:
    with harbor(database_url, shared_pubsub) as first, harbor(database_url, shared_pubsub) as second:
        yield first, second


def test_a_process_hears_its_own_commits(database_url: str, pubsub: str) -> None:
    with harbor(database_url, pubsub) as one:
        one.create_fleet("f1")
        key, token = one.create_key("f1"), one.create_token("f1")
        with one.client.websocket_connect("/api/v1/fleets/f1/live", headers=bearer(token)) as ws:
            assert ws.receive_json()["type"] == "snapshot"
            assert one.ingest("f1", key, {"fixes": [fix("v1"), fix("v2")]}).status_code == 202
            assert [ws.receive_json()["seq"] for _ in range(2)] == [1, 2]
        assert one.client.get("/ready").json()["checks"]["bus"] == "ok"


def test_processes_sharing_a_database_hear_each_other(pair: tuple[Harbor, Harbor]) -> None:
    writer_side, reader_side = pair
    writer_side.create_fleet("f1")
    key, token = writer_side.create_key("f1"), writer_side.create_token("f1")
    assert reader_side.status("f1", token).json()["vehicles"] == []  # the reader holds the fleet from now
    with reader_side.client.websocket_connect("/api/v1/fleets/f1/live", headers=bearer(token)) as ws:
        assert ws.receive_json()["type"] == "snapshot"
        assert writer_side.ingest("f1", key, {"fixes": [fix("v1", seconds_ago=2)]}).status_code == 202
        assert writer_side.ingest("f1", key, {"fixes": [fix("v2", seconds_ago=1)]}).status_code == 202
        frames = [ws.receive_json() for _ in range(2)]
    assert [(f["type"], f["seq"], f["vehicle_id"]) for f in frames] == [("position", 1, "v1"), ("position", 2, "v2")]
    eventually(lambda: reader_side.status("f1", token).json()["seq"] == 2)


def cut_bus_connections(harbor: Harbor, pubsub: str) -> int:
    """Drop the listening connections from the server's side, as a restart or a network cut would; how
    many were dropped."""
    if pubsub == "postgres":
        with psycopg.connect(harbor.database_url, autocommit=True) as conn:
            listening = "SELECT pid FROM pg_stat_activity WHERE query LIKE 'LISTEN %' AND datname = current_database()"
            rows = conn.execute(f"SELECT pg_terminate_backend(pid) FROM ({listening}) l").fetchall()
            return len(rows)
    return int(redis.Redis.from_url(pubsub).client_kill_filter(_type="pubsub"))


def test_a_lost_bus_connection_is_reported_reconnected_and_caught_up(
    pair: tuple[Harbor, Harbor], shared_pubsub: str
) -> None:
    writer_side, reader_side = pair
    writer_side.create_fleet("f1")
    key, token = writer_side.create_key("f1"), writer_side.create_token("f1")
    assert reader_side.status("f1", token).status_code == 200
    ready_bus = lambda: reader_side.client.get("/ready").json().get("checks", {}).get("bus")  # noqa: E731
    eventually(lambda: ready_bus() == "ok")
    assert cut_bus_connections(reader_side, shared_pubsub) >= 2  # both processes' listeners
    assert writer_side.ingest("f1", key, {"fixes": [fix("while-away", seconds_ago=1)]}).status_code == 202
    eventually(lambda: ready_bus() == "ok", timeout=15)  # reconnected (it may have shown "disconnected")
    vehicles = lambda: [v["vehicle_id"] for v in reader_side.status("f1", token).json()["vehicles"]]  # noqa: E731
    eventually(lambda: vehicles() == ["while-away"], timeout=15)  # caught up, with no periodic resync
    assert writer_side.ingest("f1", key, {"fixes": [fix("after", seconds_ago=0.5)]}).status_code == 202
    eventually(lambda: "after" in vehicles())
    assert json.loads(reader_side.status("f1", token).text)["seq"] == 2


def test_frames_are_the_same_text_on_every_process_whatever_the_batch_size(pair: tuple[Harbor, Harbor]) -> None:
    """Small commits travel inside the PostgreSQL notification, large ones are read back: either way the
    other process sends the very frames the committing one does (numbers and times formatted alike)."""
    writer_side, reader_side = pair
    writer_side.create_fleet("f1")
    key, token = writer_side.create_key("f1"), writer_side.create_token("f1")
    small = [fix("v1", seconds_ago=3.000001, lat=52.123456789, lng=-0.000001, speed_kmh=0.1, heading_deg=359.99)]
    large = [fix(f"w{i}", seconds_ago=2, lat=10 + i / 997, lng=20.5, accuracy_m=1e-05 * i) for i in range(300)]
    with (
        writer_side.client.websocket_connect("/api/v1/fleets/f1/live", headers=bearer(token)) as here,
        reader_side.client.websocket_connect("/api/v1/fleets/f1/live", headers=bearer(token)) as there,
    ):
        assert here.receive_json()["type"] == there.receive_json()["type"] == "snapshot"
        for fixes in (small, large, [fix("v1", seconds_ago=1, heading_deg=0)]):
            assert writer_side.ingest("f1", key, {"fixes": fixes}).status_code == 202
        sent_here = [here.receive_text() for _ in range(302)]
        sent_there = [there.receive_text() for _ in range(302)]
    assert [json.loads(frame)["seq"] for frame in sent_there] == list(range(1, 303))
    assert sent_there == sent_here


def test_postgres_notifications_carry_small_commits_and_name_large_ones(database_url: str) -> None:
    with harbor(database_url, "postgres") as one, psycopg.connect(database_url, autocommit=True) as listener:
        one.create_fleet("f1")
        key = one.create_key("f1")
        listener.execute("LISTEN harbor_fleet_events")
        assert one.ingest("f1", key, {"fixes": [fix("v1", seconds_ago=2), fix("v2")]}).status_code == 202
        assert one.ingest("f1", key, {"fixes": [fix(f"w{i}") for i in range(200)]}).status_code == 202
        notes = [json.loads(note.payload) for note in listener.notifies(timeout=5, stop_after=2)]
    assert [(n["first"], n["last"]) for n in notes] == [(1, 2), (3, 202)]
    assert [[event[0], event[1]] for event in notes[0]["events"]] == [[1, "v1"], [2, "v2"]]
    assert "events" not in notes[1] and all(len(json.dumps(n)) < 8000 for n in notes)
