"""Trackers by fleet, started on demand (only for fleets that exist) under one supervisor."""

import asyncio
from collections.abc import Awaitable, Callable

from harbor_fleet import metrics
from harbor_fleet.domain.events import Committed
from harbor_fleet.domain.fleet import FleetSettings
from harbor_fleet.runtime.supervisor import ChildState, RestartPolicy, Supervisor
from harbor_fleet.runtime.tracker import Events, Loader, Message, Reload, Tracker


class Trackers:
    def __init__(self, load: Loader, policy: RestartPolicy, mailbox_size: int) -> None:
        self._load = load
        self._mailbox_size = mailbox_size
        self._trackers: dict[str, Tracker] = {}
        self._committed: dict[str, int] = {}  # the highest seq committed by this process, per fleet
        self.restarts = 0
        self._supervisor = Supervisor("trackers", policy, on_restart=self._count_restart)

    def get(self, settings: FleetSettings) -> Tracker:
        """The fleet's tracker, started if it is not running. `settings` proves the fleet exists."""
        tracker = self._trackers.get(settings.fleet_id)
        if tracker is None:
            tracker = Tracker(settings, self._load, self._mailbox_size)
            self._trackers[settings.fleet_id] = tracker
            self._supervisor.start_child(settings.fleet_id, tracker.run)
        return tracker

    def running(self, fleet_id: str) -> Tracker | None:
        return self._trackers.get(fleet_id)

    def count(self) -> int:
        return len(self._trackers)

    def mailbox_depth(self) -> int:
        """Messages waiting in every tracker's mailbox."""
        return sum(tracker.mailbox_depth for tracker in self._trackers.values())

    def state_of(self, fleet_id: str) -> ChildState:
        return self._supervisor.state(fleet_id)

    def note_committed(self, fleet_id: str, seq: int) -> None:
        """Called by the writer after each commit, before any request of the batch is answered: a read
        on this process waits for its tracker to reach `seq` (read your own writes)."""
        self._committed[fleet_id] = max(self._committed.get(fleet_id, 0), seq)

    def committed_seq(self, fleet_id: str) -> int:
        return self._committed.get(fleet_id, 0)

    def apply(self, fleet_id: str, events: Committed) -> None:
        """Committed events from the bus, in seq order."""
        self.tell(fleet_id, Events(events))

    def uncertain(self, fleet_ids: set[str]) -> None:
        for fleet_id in fleet_ids:
            self.tell(fleet_id, Reload())

    def reload_all(self) -> None:
        self.uncertain(set(self._trackers))

    def tell(self, fleet_id: str, message: Message) -> None:
        tracker = self._trackers.get(fleet_id)
        if tracker is not None:
            tracker.tell(message)

    async def wait_ready(self, fleet_id: str, timeout: float) -> bool:
        return await self._supervisor.wait_ready(fleet_id, timeout)

    async def aclose(self) -> None:
        await self._supervisor.aclose()
        self._trackers.clear()

    async def resync_forever(
        self,
        committed_seqs: Callable[[list[str]], Awaitable[dict[str, int]]],
        every: float,
        on_behind: Callable[[str], None] = lambda fleet_id: None,
    ) -> None:
        """Every `every` seconds, reload the trackers that PostgreSQL shows behind (fleets written by
        other processes, or events this process never heard of) and tell `on_behind`. A safety net
        under the event stream."""
        while True:
            await asyncio.sleep(every)  # a period, not synchronisation
            held = {fid: t.state.seq for fid, t in self._trackers.items() if t.state is not None}
            if not held:
                continue
            for fleet_id, seq in (await committed_seqs(list(held))).items():
                if seq > max(held[fleet_id], self.committed_seq(fleet_id)):
                    self.tell(fleet_id, Reload())
                    on_behind(fleet_id)

    def _count_restart(self, fleet_id: str) -> None:
        self.restarts += 1
        metrics.TRACKER_RESTARTS.inc()
