"""The fleet service: ingest, status and track (admin.py has the commands that create things)."""

import time
from collections.abc import Callable
from dataclasses import dataclass

from harbor_fleet import metrics
from harbor_fleet.adapters.postgres.store import PostgresStore, StoreUnavailable
from harbor_fleet.adapters.postgres.writer import (
    GroupCommitWriter,
    VehicleCapReached,
    WriteFailed,
    WriterOverloaded,
    Written,
)
from harbor_fleet.domain.fixes import Fix, FixError, TimeWindow
from harbor_fleet.domain.fleet import FleetSettings, FleetState
from harbor_fleet.domain.ids import is_identifier
from harbor_fleet.domain.times import MICROS
from harbor_fleet.runtime.trackers import Trackers
from harbor_fleet.service.credentials import Credentials
from harbor_fleet.service.errors import (
    InvalidFixes,
    Overloaded,
    ServiceError,
    Unavailable,
    VehicleNotFound,
)
from harbor_fleet.service.ingest_body import decode_fixes
from harbor_fleet.service.status import StatusRenderer

CATCH_UP_SECONDS = 0.5


_FIXES_ACCEPTED = metrics.FIXES.labels("accepted")
_FIXES_DUPLICATE = metrics.FIXES.labels("duplicate")


@dataclass(frozen=True, slots=True)
class TrackPage:
    fixes: list[Fix]
    next_from: int | None


class FleetService:
    def __init__(
        self,
        store: PostgresStore,
        writer: GroupCommitWriter,
        trackers: Trackers,
        credentials: Credentials,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._writer = writer
        self._trackers = trackers
        self.credentials = credentials
        self._clock = clock
        self._renderer = StatusRenderer()

    def now_micros(self) -> int:
        return int(self._clock() * MICROS)

    # Ingest

    async def ingest(self, fleet: FleetSettings, body: bytes) -> Written:
        """Store the body's fixes; the answer counts repeats (in the request or stored) as duplicates."""
        if self._writer.full:
            raise Overloaded(retry_after=1)  # shed before decoding: refusing must cost less than accepting
        fixes = decode_fixes(body, TimeWindow.at(self.now_micros(), fleet.retention_days))
        return await self.store_fixes(fleet, fixes)

    async def store_fixes(self, fleet: FleetSettings, fixes: list[Fix]) -> Written:
        """Store fixes already validated; returns once committed (and counted, whoever sent them)."""
        try:
            outcome = await self._writer.write(fleet.fleet_id, fixes)
        except WriterOverloaded as error:
            raise Overloaded(retry_after=1) from error
        except StoreUnavailable as error:
            raise Unavailable(retry_after=1) from error
        except WriteFailed as error:
            raise ServiceError from error
        if isinstance(outcome, VehicleCapReached):
            message = f"the fleet has reached its limit of {outcome.max_vehicles} vehicles"
            raise InvalidFixes([FixError(outcome.index, "vehicle_id", message)])
        _FIXES_ACCEPTED.inc(outcome.accepted)
        _FIXES_DUPLICATE.inc(outcome.duplicates)
        return outcome

    # Status

    async def status(self, fleet: FleetSettings) -> bytes:
        """The fleet's status as JSON: from the tracker's memory, or PostgreSQL while it (re)loads."""
        return self._renderer.render(await self.current_state(fleet), self.now_micros())

    async def current_state(self, fleet: FleetSettings) -> FleetState:
        """Latest positions and seq, reflecting at least every commit this process made."""
        tracker = self._trackers.get(fleet)
        wanted = self._trackers.committed_seq(fleet.fleet_id)
        state = tracker.state
        if state is not None and state.seq < wanted and await tracker.wait_for_seq(wanted, CATCH_UP_SECONDS):
            state = tracker.state
        if state is None or state.seq < wanted:
            state = await self._load_state(fleet)
        return state

    async def _load_state(self, fleet: FleetSettings) -> FleetState:
        try:
            snapshot = await self._store.load_fleet(fleet.fleet_id)
        except StoreUnavailable as error:
            raise Unavailable(retry_after=1) from error
        return FleetState(fleet, snapshot.seq, {fix.vehicle_id: fix for fix in snapshot.positions})

    # Track

    async def track(self, fleet: FleetSettings, vehicle_id: str, start: int, end: int | None, limit: int) -> TrackPage:
        if not is_identifier(vehicle_id):
            raise VehicleNotFound
        try:
            if not await self._store.vehicle_exists(fleet.fleet_id, vehicle_id):
                raise VehicleNotFound
            fixes = await self._store.track(fleet.fleet_id, vehicle_id, start, end, limit + 1)
        except StoreUnavailable as error:
            raise Unavailable(retry_after=1) from error
        next_from = fixes[limit].recorded_at if len(fixes) > limit else None
        return TrackPage(fixes[:limit], next_from)
