"""Storing a batch of ingest requests in one transaction.

The usual path is one statement in its own implicit transaction: `harbor_store_fixes` (migration 0004)
locks the batch's fleets and stores everything, in one round trip. The database enforces the
vehicle cap (a CHECK on fleets), so a batch that would pass it fails as a whole; so does any other
error. Then the batch is redone request by request, each in its own savepoint with the cap checked
first, so one request's failure never fails another's.
"""

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import msgspec
import psycopg
from psycopg import AsyncConnection
from psycopg.rows import TupleRow

from harbor_fleet.adapters.postgres.sql import QUERIES
from harbor_fleet.domain.events import Committed, StatusChange
from harbor_fleet.domain.fixes import Fix

log = logging.getLogger(__name__)
Connection = AsyncConnection[TupleRow]


class WriteFailed(Exception):
    """The request could not be stored."""


@dataclass(frozen=True, slots=True)
class Written:
    accepted: int
    duplicates: int


@dataclass(frozen=True, slots=True)
class VehicleCapReached:
    index: int  # of the first fix (in the request's order) naming a vehicle past the cap
    vehicle_id: str
    max_vehicles: int


WriteOutcome = Written | VehicleCapReached


@dataclass(frozen=True, slots=True)
class Notify:
    """The channel the committing transaction announces its events on (the PostgreSQL bus), if any, and
    this process's name, so that it can skip its own announcements."""

    channel: str | None = None
    origin: str = ""


NO_NOTIFY = Notify()


@dataclass(slots=True)
class Submitted:
    fleet_id: str
    fixes: Sequence[Fix]


@dataclass(slots=True)
class Stored:
    """Each request's outcome (in batch order) and the committed events, per fleet in seq order."""

    outcomes: list[WriteOutcome | WriteFailed] = field(default_factory=list)
    events: dict[str, Committed] = field(default_factory=dict)


class _Row(msgspec.Struct):
    ord: int
    fleet_id: str
    vehicle_id: str
    t: int
    lat: float
    lng: float
    speed_kmh: float | None
    heading_deg: float | None
    accuracy_m: float | None


_encode = msgspec.json.Encoder().encode


async def store_batch(conn: Connection, batch: Sequence[Submitted], notify: Notify = NO_NOTIFY) -> Stored:
    """Store `batch` and commit; psycopg.OperationalError (connection trouble) propagates."""
    try:
        return await _store_together(conn, batch, notify)
    except psycopg.OperationalError:
        raise
    except psycopg.Error:
        return await _store_each(conn, batch, notify)


def _store_params(rows: "_Rows", notify: Notify) -> dict[str, object]:
    return {"rows": _encode(rows.rows).decode(), "channel": notify.channel, "origin": notify.origin}


async def _store_together(conn: Connection, batch: Sequence[Submitted], notify: Notify) -> Stored:
    """One statement on an autocommit connection: its implicit transaction has committed (and so is
    durable) when the statement's answer is complete."""
    rows = _rows(batch)
    cursor = await conn.execute(QUERIES["store_fixes"], _store_params(rows, notify))
    return _outcomes(batch, rows, await cursor.fetchall())


async def _store_each(conn: Connection, batch: Sequence[Submitted], notify: Notify) -> Stored:
    merged = Stored()
    async with conn.transaction():
        for request in batch:
            try:
                async with conn.transaction():
                    stored = await _store_one(conn, request, notify)
            except psycopg.OperationalError:
                raise
            except psycopg.Error as error:
                log.exception("ingest write failed", extra={"fleet_id": request.fleet_id})
                merged.outcomes.append(WriteFailed(str(error)))
                continue
            merged.outcomes.extend(stored.outcomes)
            for fleet_id, events in stored.events.items():
                merged.events.setdefault(fleet_id, []).extend(events)
    return merged


async def _store_one(conn: Connection, request: Submitted, notify: Notify) -> Stored:
    cursor = await conn.execute(QUERIES["lock_fleets"], {"fleet_ids": [request.fleet_id]})
    locked = await cursor.fetchone()
    if locked is None:
        raise WriteFailed(f"fleet {request.fleet_id} is gone")
    _, vehicle_count, max_vehicles = locked
    capped = await _vehicle_cap(conn, request, int(vehicle_count), int(max_vehicles))
    if capped is not None:
        return Stored(outcomes=[capped])
    rows = _rows([request])
    cursor = await conn.execute(QUERIES["store_fixes"], _store_params(rows, notify))
    return _outcomes([request], rows, await cursor.fetchall())


async def _vehicle_cap(
    conn: Connection, request: Submitted, vehicle_count: int, max_vehicles: int
) -> VehicleCapReached | None:
    named = list(dict.fromkeys(fix.vehicle_id for fix in request.fixes))
    if vehicle_count + len(named) <= max_vehicles:
        return None
    cursor = await conn.execute(QUERIES["known_vehicles"], {"fleet_id": request.fleet_id, "vehicle_ids": named})
    known = {str(row[0]) for row in await cursor.fetchall()}
    for index, fix in enumerate(request.fixes):
        if fix.vehicle_id not in known:
            if vehicle_count + 1 > max_vehicles:
                return VehicleCapReached(index, fix.vehicle_id, max_vehicles)
            known.add(fix.vehicle_id)
            vehicle_count += 1
    return None


@dataclass(slots=True)
class _Rows:
    """One row per fix, numbered in batch order, with its fix and the position of its request."""

    rows: list[_Row] = field(default_factory=list)
    fixes: list[Fix] = field(default_factory=list)
    owners: list[int] = field(default_factory=list)


def _rows(batch: Sequence[Submitted]) -> _Rows:
    """A repeat of an earlier fix of the batch is left out: the earlier one's request stores it."""
    seen: set[tuple[str, str, int]] = set()
    out = _Rows()
    for owner, request in enumerate(batch):
        fleet_id = request.fleet_id
        for fix in request.fixes:
            key = (fleet_id, fix.vehicle_id, fix.recorded_at)
            if key in seen:
                continue
            seen.add(key)
            out.rows.append(
                _Row(
                    len(out.rows),
                    fleet_id,
                    fix.vehicle_id,
                    fix.recorded_at,
                    fix.lat,
                    fix.lng,
                    fix.speed_kmh,
                    fix.heading_deg,
                    fix.accuracy_m,
                )
            )
            out.fixes.append(fix)
            out.owners.append(owner)
    return out


def _outcomes(batch: Sequence[Submitted], rows: _Rows, numbered: Sequence[TupleRow]) -> Stored:
    """`numbered` holds (ord, seq, fleet_id, …) of each stored row (the others were duplicates), and
    (None, seq, fleet_id, vehicle_id, status, at) of each vehicle that came back online."""
    stored = Stored()
    accepted = [0] * len(batch)
    for ord_, seq, fleet_id, vehicle_id, status, at in sorted(numbered, key=lambda row: int(row[1])):
        if ord_ is None:
            change = StatusChange(vehicle_id, status, int(at))
            stored.events.setdefault(fleet_id, []).append((int(seq), change))
            continue
        owner = rows.owners[ord_]
        accepted[owner] += 1
        stored.events.setdefault(fleet_id, []).append((int(seq), rows.fixes[ord_]))
    stored.outcomes = [
        Written(count, len(request.fixes) - count) for request, count in zip(batch, accepted, strict=True)
    ]
    return stored
