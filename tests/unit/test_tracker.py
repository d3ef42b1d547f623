"""A tracker whose reload finds the database down keeps serving what it knows, applies the events
committed before the outage, and reloads once the database is back."""

import asyncio

import pytest

from harbor_fleet.domain.fixes import Fix
from harbor_fleet.domain.fleet import FleetSettings
from harbor_fleet.runtime.tracker import Events, Reload, SourceUnavailable, Tracker


def position(vehicle_id: str, micros: int) -> Fix:
    return Fix(vehicle_id, micros, 1.0, 2.0, None, None, None)


class Database:
    def __init__(self) -> None:
        self.up = True
        self.seq = 0
        self.positions: list[Fix] = []
        self.attempts = 0
        self.retried = asyncio.Event()  # set at the second attempt

    async def load(self, fleet_id: str) -> tuple[int, list[Fix]]:
        self.attempts += 1
        if self.attempts >= 2:
            self.retried.set()
        if not self.up:
            raise SourceUnavailable("down")
        return self.seq, list(self.positions)


async def test_a_reload_during_an_outage_keeps_the_state_and_applies_what_was_queued() -> None:
    database = Database()
    tracker = Tracker(FleetSettings("f1"), database.load, mailbox_size=10)
    ready = asyncio.Event()
    running = asyncio.create_task(tracker.run(ready.set))
    try:
        await asyncio.wait_for(ready.wait(), 5)
        tracker.tell(Events([(1, position("v1", 10))]))
        assert await tracker.wait_for_seq(1, 5)
        database.up = False
        tracker.tell(Reload())  # a commit whose outcome is unknown
        tracker.tell(Events([(2, position("v2", 20))]))  # committed before the outage, still queued
        assert await tracker.wait_for_seq(2, 5)
        assert tracker.state is not None and sorted(tracker.state.positions) == ["v1", "v2"]
        database.seq, database.positions = 3, [position("v1", 10), position("v2", 20), position("v3", 30)]
        database.up = True
        assert await tracker.wait_for_seq(3, 5)  # reloaded once the database is back
        assert sorted(tracker.state.positions) == ["v1", "v2", "v3"]
    finally:
        running.cancel()
        with pytest.raises(asyncio.CancelledError):
            await running


async def test_a_tracker_starting_during_an_outage_waits_for_the_database_instead_of_crashing() -> None:
    database = Database()
    database.up = False
    tracker = Tracker(FleetSettings("f1"), database.load, mailbox_size=10)
    ready = asyncio.Event()
    running = asyncio.create_task(tracker.run(ready.set))
    try:
        await asyncio.wait_for(database.retried.wait(), 5)  # failed once and tried again: not crashed
        assert not running.done() and not ready.is_set() and tracker.state is None
        database.seq, database.positions = 1, [position("v1", 10)]
        database.up = True
        await asyncio.wait_for(ready.wait(), 5)
        assert tracker.state is not None and tracker.state.seq == 1
    finally:
        running.cancel()
        with pytest.raises(asyncio.CancelledError):
            await running
