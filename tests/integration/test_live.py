"""The live stream (DESIGN 2.4, 2.8): snapshot, then every event in seq order; resumable with since."""

import asyncio
import json
import threading

import pytest
from starlette.testclient import WebSocketDenialResponse

from harbor_fleet.domain.fixes import Fix
from harbor_fleet.service.admin import IssuedKey, IssuedToken
from harbor_fleet.service.frames import position_frame
from helpers import Harbor, bearer, fix, running_harbor

URL = "/api/v1/fleets/f1/live"


@pytest.fixture
def creds(harbor: Harbor) -> tuple[IssuedKey, IssuedToken]:
    harbor.create_fleet("f1")
    return harbor.create_key("f1"), harbor.create_token("f1")


def frames(ws, count: int) -> list[dict]:  # type: ignore[no-untyped-def]
    return [json.loads(ws.receive_text()) for _ in range(count)]


def test_first_a_snapshot_then_a_position_frame_per_stored_fix(harbor: Harbor, creds) -> None:  # type: ignore[no-untyped-def]
    key, token = creds
    harbor.ingest("f1", key, {"fixes": [fix("v1", seconds_ago=5)]})
    with harbor.client.websocket_connect(URL, headers=bearer(token)) as ws:
        snapshot = json.loads(ws.receive_text())
        assert list(snapshot)[:2] == ["type", "fleet_id"]
        assert snapshot["type"] == "snapshot" and snapshot["seq"] == 1
        assert [v["vehicle_id"] for v in snapshot["vehicles"]] == ["v1"]
        sent = fix("v2", seconds_ago=1, speed_kmh=12.5)
        harbor.ingest("f1", key, {"fixes": [sent, fix("v1", seconds_ago=2)]})
        first, second = frames(ws, 2)
    assert first == {
        "type": "position",
        "seq": 2,
        "vehicle_id": "v2",
        "lat": 52.5,
        "lng": 13.4,
        "recorded_at": sent["recorded_at"],
        "speed_kmh": 12.5,
        "heading_deg": None,
        "accuracy_m": None,
    }
    assert (second["type"], second["seq"], second["vehicle_id"]) == ("position", 3, "v1")


def test_since_replays_every_later_event_then_goes_live(harbor: Harbor, creds) -> None:  # type: ignore[no-untyped-def]
    key, token = creds
    for n in range(5):
        harbor.ingest("f1", key, {"fixes": [fix(f"v{n}", seconds_ago=10 - n)]})
    with harbor.client.websocket_connect(f"{URL}?since=2", headers=bearer(token)) as ws:
        assert [f["seq"] for f in frames(ws, 3)] == [3, 4, 5]
        harbor.ingest("f1", key, {"fixes": [fix("v9", seconds_ago=1)]})
        assert frames(ws, 1)[0]["seq"] == 6


def test_since_at_the_current_seq_sends_only_what_comes_next(harbor: Harbor, creds) -> None:  # type: ignore[no-untyped-def]
    key, token = creds
    harbor.ingest("f1", key, {"fixes": [fix("v1", seconds_ago=3)]})
    with harbor.client.websocket_connect(f"{URL}?since=1", headers=bearer(token)) as ws:
        harbor.ingest("f1", key, {"fixes": [fix("v1", seconds_ago=1)]})
        first = frames(ws, 1)[0]
    assert (first["type"], first["seq"]) == ("position", 2)


@pytest.mark.parametrize(("since", "why"), [("99", "beyond the current seq"), ("0", "more than 10,000 behind")])
def test_a_since_that_cannot_be_replayed_gets_a_snapshot(harbor: Harbor, creds, since, why, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    key, token = creds
    harbor.ingest("f1", key, {"fixes": [fix("v1", seconds_ago=3), fix("v2", seconds_ago=2)]})
    if since == "0":
        monkeypatch.setattr("harbor_fleet.service.live.MAX_REPLAY", 1)
    with harbor.client.websocket_connect(f"{URL}?since={since}", headers=bearer(token)) as ws:
        first = frames(ws, 1)[0]
    assert (first["type"], first["seq"]) == ("snapshot", 2), why


def test_resuming_with_since_across_reconnects_misses_and_repeats_nothing(harbor: Harbor, creds) -> None:  # type: ignore[no-untyped-def]
    key, token = creds
    stop = threading.Event()

    def ingest_continuously() -> None:
        n = 0
        while not stop.is_set() and n < 400:
            harbor.ingest("f1", key, {"fixes": [fix(f"v{n % 7}", seconds_ago=30 - n / 100)]})
            n += 1

    writer = threading.Thread(target=ingest_continuously)
    writer.start()
    seen: list[int] = []
    try:
        since = None
        for _ in range(15):
            url = URL if since is None else f"{URL}?since={since}"
            with harbor.client.websocket_connect(url, headers=bearer(token)) as ws:
                for frame in frames(ws, 10):
                    if frame["type"] == "snapshot":
                        assert since is None
                        since = frame["seq"]
                        start = since
                    else:
                        seen.append(frame["seq"])
                        since = frame["seq"]
    finally:
        stop.set()
        writer.join(timeout=60)
    assert seen == list(range(start + 1, start + 1 + len(seen)))  # strictly consecutive across 15 reconnects
    assert len(seen) >= 100


@pytest.mark.parametrize(
    ("headers", "path", "status"),
    [
        ({}, URL, 401),
        ({"authorization": "Bearer nope"}, URL, 401),
        (None, "/api/v1/fleets/ghost/live", 404),
        (None, "/api/v1/fleets/f2/live", 403),
        (None, f"{URL}?since=abc", 400),
        (None, f"{URL}?since=-1", 400),
        (None, f"{URL}?since=1&since=2", 400),
    ],
)
def test_refused_handshakes_get_a_status_and_no_frame(harbor: Harbor, creds, headers, path, status) -> None:  # type: ignore[no-untyped-def]
    _, token = creds
    harbor.create_fleet("f2")
    with (
        pytest.raises(WebSocketDenialResponse) as refused,
        harbor.client.websocket_connect(path, headers=bearer(token) if headers is None else headers),
    ):
        pass
    assert refused.value.status_code == status
    assert "code" in refused.value.json()["error"]


def test_connections_per_token_are_capped(database_url: str) -> None:
    with running_harbor(database_url, live_max_per_token=2) as harbor:
        harbor.create_fleet("f1")
        token = harbor.create_token("f1")
        with harbor.client.websocket_connect(URL, headers=bearer(token)) as one:
            one.receive_text()
            with harbor.client.websocket_connect(URL, headers=bearer(token)) as two:
                two.receive_text()
                with (
                    pytest.raises(WebSocketDenialResponse) as refused,
                    harbor.client.websocket_connect(URL, headers=bearer(token)),
                ):
                    pass
                assert refused.value.status_code == 429
        with harbor.client.websocket_connect(URL, headers=bearer(token)) as again:  # freed on close
            assert json.loads(again.receive_text())["type"] == "snapshot"


def test_a_slow_client_gets_a_fresh_snapshot_instead_of_its_backlog(database_url: str) -> None:
    """The session's backlog is filled past its bound while the client reads nothing; what it is sent
    next is a fresh snapshot, not the backlog."""
    with running_harbor(database_url, live_max_backlog=3) as harbor:
        harbor.create_fleet("f1")
        token = harbor.create_token("f1")
        live = harbor.application.live
        request = harbor.call(live.authorize, bearer(token)["authorization"], "f1", [])
        sent: list[dict] = []

        async def stream_while_stalled() -> None:
            session = live.join(request)
            reading = asyncio.Event()
            second_frame = asyncio.Event()

            async def send(frame: str) -> None:
                sent.append(json.loads(frame))
                if len(sent) == 2:
                    second_frame.set()
                await reading.wait()  # the client reads nothing until told to

            streaming = asyncio.create_task(live.stream(request, session, send))
            frames = [
                (seq, position_frame(seq, Fix(f"v{seq}", 1_700_000_000_000_000 + seq, 1.0, 2.0)).decode())
                for seq in range(1, 11)
            ]
            sessions = harbor.application.live_sessions
            sessions.deliver("f1", frames)  # ten frames for a backlog of three
            assert session.needs_snapshot and len(session.backlog) <= 3
            reading.set()
            async with asyncio.timeout(5):
                await second_frame.wait()
            streaming.cancel()
            live.leave(session)

        harbor.call(stream_while_stalled)
    assert [frame["type"] for frame in sent[:2]] == ["snapshot", "snapshot"]


def test_a_stream_follows_fixes_ingested_by_another_process(database_url: str) -> None:
    with (
        running_harbor(database_url, tracker_resync_seconds=0.05) as writer_side,
        running_harbor(database_url, tracker_resync_seconds=0.05) as reader_side,
    ):
        writer_side.create_fleet("f1")
        key, token = writer_side.create_key("f1"), writer_side.create_token("f1")
        with reader_side.client.websocket_connect(URL, headers=bearer(token)) as ws:
            assert frames(ws, 1)[0]["type"] == "snapshot"
            writer_side.ingest("f1", key, {"fixes": [fix("v1", seconds_ago=2)]})
            writer_side.ingest("f1", key, {"fixes": [fix("v2", seconds_ago=1)]})
            assert [(f["type"], f["seq"]) for f in frames(ws, 2)] == [("position", 1), ("position", 2)]
