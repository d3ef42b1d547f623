"""The tracker: one actor per fleet holding its latest positions in memory.

It loads its state from PostgreSQL when it (re)starts, then applies committed events from a bounded
mailbox in `seq` order. When the mailbox overflows or a `seq` is missing, it does not guess: it
reloads from PostgreSQL, the source of truth. Readers use `state` directly (one event loop, so a
read never sees half an update) and fall back to PostgreSQL while it is None (loading or parked).
A load that finds the database unavailable keeps the state it has (readers are served the last known
positions during an outage; with nothing loaded yet they read PostgreSQL) and tries again every
RETRY_SECONDS: an outage is not a crash.
"""

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from harbor_fleet.domain.events import Committed
from harbor_fleet.domain.fixes import Fix
from harbor_fleet.domain.fleet import FleetSettings, FleetState
from harbor_fleet.runtime.supervisor import Started

Loader = Callable[[str], Awaitable[tuple[int, list[Fix]]]]
RETRY_SECONDS = 0.5


class SourceUnavailable(Exception):
    """The loader cannot reach the source of truth right now."""


@dataclass(frozen=True, slots=True)
class Events:
    """Committed events of one fleet, in seq order."""

    events: Committed


class Reload:
    """Drop the state and read it again from PostgreSQL (it may be behind)."""


class Crash:
    """Make the tracker fail, to exercise supervision (tests, drills)."""


Message = Events | Reload | Crash


class TrackerCrashed(Exception):
    """Raised on purpose by a Crash message."""


class Tracker:
    def __init__(self, settings: FleetSettings, load: Loader, mailbox_size: int) -> None:
        self.settings = settings
        self.state: FleetState | None = None
        self._load = load
        self._mailbox: asyncio.Queue[Message] = asyncio.Queue(maxsize=mailbox_size)
        self._overflowed = False
        self._progress = asyncio.Event()

    @property
    def fleet_id(self) -> str:
        return self.settings.fleet_id

    @property
    def mailbox_depth(self) -> int:
        return self._mailbox.qsize()

    def tell(self, message: Message) -> None:
        """Deliver without waiting; a full mailbox makes the tracker reload instead of blocking anyone."""
        try:
            self._mailbox.put_nowait(message)
        except asyncio.QueueFull:
            self._overflowed = True

    async def run(self, started: Started) -> None:
        self.state = None
        try:
            await self._reload()
            started()
            while True:
                message = await self._mailbox.get()
                if self._overflowed:
                    await self._reload()
                await self._handle(message)
        finally:
            self.state = None

    async def wait_for_seq(self, seq: int, timeout: float) -> bool:
        """Wait until the state has applied `seq`; False when it did not within `timeout`."""
        try:
            async with asyncio.timeout(timeout):
                while self.state is None or self.state.seq < seq:
                    self._progress.clear()
                    await self._progress.wait()
        except TimeoutError:
            return False
        return True

    async def _handle(self, message: Message) -> None:
        if isinstance(message, Crash):
            raise TrackerCrashed(f"tracker {self.fleet_id} crashed on request")
        if isinstance(message, Reload):
            await self._reload()
            return
        if not self._apply(message):  # an event we never saw: catch up from the source of truth
            await self._reload()
            return
        self._progress.set()

    def _apply(self, message: Events) -> bool:
        """Apply events in seq order; False at a gap (the state stays as it was before the gap)."""
        state = self.state
        assert state is not None
        for seq, event in message.events:
            if seq > state.seq + 1:
                return False
            state.apply(seq, event)
        return True

    async def _reload(self) -> None:
        while True:
            queued = self._drain()
            try:
                seq, positions = await self._load(self.fleet_id)
                break
            except SourceUnavailable:
                # An outage is not a crash: wait for the database rather than spend the restart limit and
                # be parked long after it is back. Readers meanwhile get what it holds (or PostgreSQL).
                if self.state is not None:
                    for events in queued:  # committed before the outage: keep the state as current as it can be
                        if not self._apply(events):
                            break
                    self._progress.set()
                await asyncio.sleep(RETRY_SECONDS)  # the store fails fast while the database is down
        self.state = FleetState(self.settings, seq, {fix.vehicle_id: fix for fix in positions})
        self._progress.set()

    def _drain(self) -> list[Events]:
        """Empty the mailbox (all of it was committed before the snapshot about to be read)."""
        self._overflowed = False
        queued: list[Events] = []
        while not self._mailbox.empty():
            message = self._mailbox.get_nowait()
            if isinstance(message, Crash):
                raise TrackerCrashed(f"tracker {self.fleet_id} crashed on request")
            if isinstance(message, Events):
                queued.append(message)
        return queued
