"""Trackers under supervision: a crash restarts the fleet's tracker with its state reloaded from
PostgreSQL while other fleets keep answering; past the restart limit the fleet is served from
PostgreSQL instead of looping."""

from harbor_fleet.runtime.supervisor import ChildState
from harbor_fleet.runtime.tracker import Crash
from helpers import Harbor, eventually, fix, running_harbor


def setup_two_fleets(harbor: Harbor):  # type: ignore[no-untyped-def]
    for fleet_id in ("a", "b"):
        harbor.create_fleet(fleet_id)
    key, token = harbor.create_key("a", "b"), harbor.create_token("a", "b")
    for fleet_id in ("a", "b"):
        assert (
            harbor.ingest(fleet_id, key, {"fixes": [fix("v1", seconds_ago=3), fix("v2", seconds_ago=2)]}).status_code
            == 202
        )
        assert harbor.status(fleet_id, token).status_code == 200  # starts the tracker
    return key, token


def test_a_crashed_tracker_restarts_with_its_state_and_others_keep_answering(harbor: Harbor) -> None:
    key, token = setup_two_fleets(harbor)
    trackers = harbor.application.trackers
    eventually(lambda: trackers.state_of("a") is ChildState.RUNNING)
    before = harbor.status("a", token).json()["vehicles"]
    old_state = trackers.running("a").state

    harbor.call(trackers.tell, "a", Crash())
    eventually(lambda: trackers.restarts == 1 and trackers.state_of("a") is ChildState.RUNNING)

    new_state = trackers.running("a").state
    assert new_state is not None and new_state is not old_state  # rebuilt, not kept
    assert sorted(new_state.positions) == ["v1", "v2"]
    assert harbor.status("a", token).json()["vehicles"] == before
    assert harbor.status("b", token).status_code == 200
    assert harbor.ingest("a", key, {"fixes": [fix("v3", seconds_ago=1)]}).status_code == 202
    assert [v["vehicle_id"] for v in harbor.status("a", token).json()["vehicles"]] == ["v1", "v2", "v3"]


def test_a_tracker_past_its_restart_limit_is_parked_and_served_from_postgres(database_url: str) -> None:
    with running_harbor(database_url, tracker_max_restarts=1, tracker_park_seconds=60) as harbor:
        key, token = setup_two_fleets(harbor)
        trackers = harbor.application.trackers
        for crashes in (1, 2):
            eventually(lambda: trackers.state_of("a") is ChildState.RUNNING)
            harbor.call(trackers.tell, "a", Crash())
            eventually(
                lambda crashes=crashes: trackers.restarts == crashes or trackers.state_of("a") is ChildState.PARKED
            )
        eventually(lambda: trackers.state_of("a") is ChildState.PARKED)
        assert trackers.running("a").state is None

        assert harbor.ingest("a", key, {"fixes": [fix("v9", seconds_ago=1)]}).status_code == 202
        status = harbor.status("a", token)
        assert status.status_code == 200
        assert [v["vehicle_id"] for v in status.json()["vehicles"]] == ["v1", "v2", "v9"]
        assert status.json()["seq"] == 3
        assert harbor.status("b", token).status_code == 200


def test_status_follows_fixes_ingested_by_another_process(database_url: str) -> None:
    with (
        running_harbor(database_url, tracker_resync_seconds=0.05) as writer_side,
        running_harbor(database_url, tracker_resync_seconds=0.05) as reader_side,
    ):
        writer_side.create_fleet("a")
        key, token = writer_side.create_key("a"), writer_side.create_token("a")
        assert reader_side.status("a", token).json()["vehicles"] == []  # its tracker starts, empty
        assert writer_side.ingest("a", key, {"fixes": [fix("v1", seconds_ago=1)]}).status_code == 202
        eventually(lambda: reader_side.status("a", token).json()["seq"] == 1)
        assert [v["vehicle_id"] for v in reader_side.status("a", token).json()["vehicles"]] == ["v1"]
