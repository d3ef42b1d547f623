"""The group-commit writer: one per process, one connection, one transaction per batch.

Concurrent ingest requests queue here; the writer takes as many as fit in a batch, stores them in one
transaction and answers each only after that transaction committed (acknowledged = durable). Within
the transaction, duplicates are dropped first and only then does each stored fix take its fleet's
next `seq`, under the fleet's row lock, so sequences have no gaps and follow commit order. A batch
that fails for a reason other than a lost connection is retried request by request, each in its own
savepoint, so one request's failure never fails another's.
"""

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import psycopg
from psycopg import AsyncConnection
from psycopg.rows import TupleRow

from harbor_fleet.adapters.postgres.sql import QUERIES
from harbor_fleet.adapters.postgres.store import StoreUnavailable
from harbor_fleet.domain.fixes import Fix
from harbor_fleet.domain.times import from_micros, to_micros

log = logging.getLogger(__name__)

Committed = Callable[[str, list[tuple[int, Fix]]], None]
Uncertain = Callable[[set[str]], None]


class WriterOverloaded(Exception):
    """Too many fixes are waiting to be written; try again shortly."""


class WriteFailed(Exception):
    """The request could not be stored."""


@dataclass(frozen=True, slots=True)
class Written:
    accepted: int
    duplicates: int


@dataclass(frozen=True, slots=True)
class VehicleCapReached:
    index: int  # of the first fix (in the request's deduplicated order) naming a vehicle past the cap
    vehicle_id: str
    max_vehicles: int


WriteOutcome = Written | VehicleCapReached


@dataclass(slots=True)
class _Request:
    fleet_id: str
    fixes: Sequence[Fix]
    future: asyncio.Future[WriteOutcome]


@dataclass(slots=True)
class _FleetLock:
    seq: int
    vehicle_count: int
    max_vehicles: int


@dataclass(slots=True)
class _Stored:
    """What storing some requests did, applied to the fleet locks only once it holds."""

    outcomes: list[WriteOutcome | WriteFailed] = field(default_factory=list)
    events: dict[str, list[tuple[int, Fix]]] = field(default_factory=dict)
    seqs: dict[str, int] = field(default_factory=dict)


class GroupCommitWriter:
    def __init__(
        self,
        url: str,
        *,
        max_batch_fixes: int,
        max_pending_fixes: int,
        on_commit: Committed,
        on_uncertain: Uncertain,
    ) -> None:
        self._url = url
        self._max_batch = max_batch_fixes
        self._max_pending = max_pending_fixes
        self._on_commit = on_commit
        self._on_uncertain = on_uncertain
        self._queue: deque[_Request] = deque()
        self._pending_fixes = 0
        self._wakeup = asyncio.Event()
        self._conn: AsyncConnection[TupleRow] | None = None
        self._closing = False

    async def write(self, fleet_id: str, fixes: Sequence[Fix]) -> WriteOutcome:
        """Store `fixes` (already deduplicated within the request); returns once committed."""
        if self._closing:
            raise StoreUnavailable("the writer is shutting down")
        if self._pending_fixes + len(fixes) > self._max_pending:
            raise WriterOverloaded
        future: asyncio.Future[WriteOutcome] = asyncio.get_running_loop().create_future()
        self._queue.append(_Request(fleet_id, fixes, future))
        self._pending_fixes += len(fixes)
        self._wakeup.set()
        return await asyncio.shield(future)  # a client going away must not cancel its batch

    @property
    def pending_fixes(self) -> int:
        return self._pending_fixes

    async def run(self) -> None:
        """Write batches until closed and drained."""
        try:
            while not (self._closing and not self._queue):
                if not self._queue:
                    self._wakeup.clear()
                    await self._wakeup.wait()
                    continue
                await self._write_batch(self._take_batch())
        finally:
            if self._conn is not None:
                await self._conn.close()

    def close(self) -> None:
        """Stop taking requests; `run` returns once those queued are written."""
        self._closing = True
        self._wakeup.set()

    def _take_batch(self) -> list[_Request]:
        batch = [self._queue.popleft()]
        size = len(batch[0].fixes)
        while self._queue and size + len(self._queue[0].fixes) <= self._max_batch:
            request = self._queue.popleft()
            batch.append(request)
            size += len(request.fixes)
        return batch

    async def _write_batch(self, batch: list[_Request]) -> None:
        try:
            stored = await self._store_batch(batch)
        except psycopg.OperationalError as error:
            await self._drop_connection()
            self._fail(batch, StoreUnavailable(str(error)))
            self._on_uncertain({request.fleet_id for request in batch})
            return
        except BaseException:
            # Whatever the commit did, nobody waits forever: fail the batch, then let the supervisor see it.
            await self._drop_connection()
            self._fail(batch, StoreUnavailable("the writer failed"))
            self._on_uncertain({request.fleet_id for request in batch})
            raise
        finally:
            self._pending_fixes -= sum(len(request.fixes) for request in batch)
        for fleet_id, events in stored.events.items():
            self._on_commit(fleet_id, events)
        for request, outcome in zip(batch, stored.outcomes, strict=True):
            if not request.future.done():
                if isinstance(outcome, WriteFailed):
                    request.future.set_exception(outcome)
                else:
                    request.future.set_result(outcome)

    async def _store_batch(self, batch: list[_Request]) -> _Stored:
        conn = await self._connection()
        try:
            async with conn.transaction():
                locks = await _lock_fleets(conn, batch)
                return await _store(conn, batch, locks)
        except psycopg.OperationalError:
            raise
        except psycopg.Error as error:
            if len(batch) == 1:
                log.exception("ingest write failed")
                return _Stored(outcomes=[WriteFailed(str(error))])
            return await self._store_one_by_one(conn, batch)

    async def _store_one_by_one(self, conn: AsyncConnection[TupleRow], batch: list[_Request]) -> _Stored:
        merged = _Stored()
        async with conn.transaction():
            for request in batch:
                try:
                    async with conn.transaction():
                        # Locked (again) per request: the row now holds what earlier requests did.
                        stored = await _store(conn, [request], await _lock_fleets(conn, [request]))
                except psycopg.OperationalError:
                    raise
                except psycopg.Error as error:
                    log.exception("ingest write failed")
                    merged.outcomes.append(WriteFailed(str(error)))
                    continue
                merged.outcomes.extend(stored.outcomes)
                for fleet_id, events in stored.events.items():
                    merged.events.setdefault(fleet_id, []).extend(events)
        return merged

    def _fail(self, batch: list[_Request], error: Exception) -> None:
        for request in batch:
            if not request.future.done():
                request.future.set_exception(error)

    async def _connection(self) -> AsyncConnection[TupleRow]:
        if self._conn is None or self._conn.closed:
            self._conn = await AsyncConnection.connect(self._url, autocommit=True)
        return self._conn

    async def _drop_connection(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(psycopg.Error):
                await self._conn.close()
        self._conn = None


async def _lock_fleets(conn: AsyncConnection[TupleRow], batch: list[_Request]) -> dict[str, _FleetLock]:
    fleet_ids = sorted({request.fleet_id for request in batch})
    cursor = await conn.execute(QUERIES["lock_fleets"], {"fleet_ids": fleet_ids})
    return {str(fid): _FleetLock(int(seq), int(count), int(cap)) for fid, seq, count, cap in await cursor.fetchall()}


async def _store(conn: AsyncConnection[TupleRow], batch: list[_Request], locks: dict[str, _FleetLock]) -> _Stored:
    """Store `batch` in the open transaction, the fleets of `locks` locked."""
    capped = await _vehicle_cap_outcomes(conn, batch, locks)
    keys: set[tuple[str, str, int]] = set()
    rows: list[tuple[str, Fix]] = []
    for position, request in enumerate(batch):
        if position in capped:
            continue
        for fix in request.fixes:
            key = (request.fleet_id, fix.vehicle_id, fix.recorded_at)
            if key not in keys:  # a repeat across requests of the batch is left to the first
                keys.add(key)
                rows.append((request.fleet_id, fix))
    inserted = await _insert_fixes(conn, rows)
    stored = _number_events(batch, capped, inserted, locks)
    await _store_events(conn, stored)
    return stored


async def _vehicle_cap_outcomes(
    conn: AsyncConnection[TupleRow], batch: list[_Request], locks: dict[str, _FleetLock]
) -> dict[int, VehicleCapReached]:
    """Requests (by position) that would take a fleet past its vehicle cap."""
    named: dict[str, set[str]] = {}
    for request in batch:
        named.setdefault(request.fleet_id, set()).update(fix.vehicle_id for fix in request.fixes)
    near_cap = [fid for fid, ids in named.items() if locks[fid].vehicle_count + len(ids) > locks[fid].max_vehicles]
    if not near_cap:
        return {}
    pairs = [(fid, vid) for fid in near_cap for vid in named[fid]]
    cursor = await conn.execute(
        QUERIES["known_vehicles"], {"fleet_ids": [p[0] for p in pairs], "vehicle_ids": [p[1] for p in pairs]}
    )
    known = {(str(fid), str(vid)) for fid, vid in await cursor.fetchall()}
    counts = {fid: locks[fid].vehicle_count for fid in near_cap}
    capped: dict[int, VehicleCapReached] = {}
    for position, request in enumerate(batch):
        if request.fleet_id in counts:
            verdict = _admit(request, known, counts, locks[request.fleet_id].max_vehicles)
            if verdict is not None:
                capped[position] = verdict
    return capped


def _admit(
    request: _Request, known: set[tuple[str, str]], counts: dict[str, int], cap: int
) -> VehicleCapReached | None:
    new: list[tuple[str, str]] = []
    for index, fix in enumerate(request.fixes):
        pair = (request.fleet_id, fix.vehicle_id)
        if pair not in known and pair not in new:
            if counts[request.fleet_id] + len(new) + 1 > cap:
                return VehicleCapReached(index, fix.vehicle_id, cap)
            new.append(pair)
    known.update(new)
    counts[request.fleet_id] += len(new)
    return None


async def _insert_fixes(conn: AsyncConnection[TupleRow], rows: list[tuple[str, Fix]]) -> set[tuple[str, str, int]]:
    if not rows:
        return set()
    params = _columns(rows)
    cursor = await conn.execute(QUERIES["insert_fixes"], params)
    return {(str(f), str(v), to_micros(r)) for f, v, r in await cursor.fetchall()}


def _number_events(
    batch: list[_Request],
    capped: dict[int, VehicleCapReached],
    inserted: set[tuple[str, str, int]],
    locks: dict[str, _FleetLock],
) -> _Stored:
    stored = _Stored()
    seqs = {fid: lock.seq for fid, lock in locks.items()}
    for position, request in enumerate(batch):
        if position in capped:
            stored.outcomes.append(capped[position])
            continue
        events = stored.events.setdefault(request.fleet_id, [])
        accepted = 0
        for fix in request.fixes:
            key = (request.fleet_id, fix.vehicle_id, fix.recorded_at)
            if key in inserted:
                inserted.discard(key)  # a later repeat in the batch is a duplicate
                seqs[request.fleet_id] += 1
                events.append((seqs[request.fleet_id], fix))
                accepted += 1
        stored.outcomes.append(Written(accepted, len(request.fixes) - accepted))
    stored.events = {fid: events for fid, events in stored.events.items() if events}
    stored.seqs = {fid: seqs[fid] for fid in stored.events}
    return stored


async def _store_events(conn: AsyncConnection[TupleRow], stored: _Stored) -> None:
    if not stored.events:
        return
    rows = [(fid, fix) for fid, events in stored.events.items() for _, fix in events]
    params = _columns(rows)
    params["seqs"] = [seq for events in stored.events.values() for seq, _ in events]
    await conn.execute(QUERIES["insert_position_events"], params)
    latest: dict[tuple[str, str], Fix] = {}
    for fid, fix in rows:
        current = latest.get((fid, fix.vehicle_id))
        if current is None or fix.recorded_at > current.recorded_at:
            latest[(fid, fix.vehicle_id)] = fix
    vehicles = _columns([(fid, fix) for (fid, _), fix in latest.items()])
    vehicles["seq_fleet_ids"] = list(stored.seqs)
    vehicles["last_seqs"] = list(stored.seqs.values())
    await conn.execute(QUERIES["upsert_vehicles"], vehicles)


def _columns(rows: list[tuple[str, Fix]]) -> dict[str, list[object]]:
    return {
        "fleet_ids": [fid for fid, _ in rows],
        "vehicle_ids": [fix.vehicle_id for _, fix in rows],
        "recorded_ats": [from_micros(fix.recorded_at) for _, fix in rows],
        "lats": [fix.lat for _, fix in rows],
        "lngs": [fix.lng for _, fix in rows],
        "speeds": [fix.speed_kmh for _, fix in rows],
        "headings": [fix.heading_deg for _, fix in rows],
        "accuracies": [fix.accuracy_m for _, fix in rows],
    }
