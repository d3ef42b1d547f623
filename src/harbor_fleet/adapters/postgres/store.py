"""Reads and simple writes of fleets, credentials, positions and history.

Driver errors that mean "the database is unavailable" are translated here into StoreUnavailable,
so the layers above never import psycopg.
"""

import contextlib
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime

import psycopg
from psycopg import AsyncConnection
from psycopg.rows import TupleRow
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from harbor_fleet.adapters.postgres.batch_store import Notify
from harbor_fleet.adapters.postgres.sql import QUERIES
from harbor_fleet.domain.events import Committed, Event, StatusChange
from harbor_fleet.domain.fixes import Fix
from harbor_fleet.domain.fleet import FleetSettings
from harbor_fleet.domain.times import from_micros, to_micros

Pool = AsyncConnectionPool[AsyncConnection[TupleRow]]


class StoreUnavailable(Exception):
    """The database cannot be reached right now."""


@dataclass(frozen=True, slots=True)
class WebhookInfo:
    webhook_id: str
    fleet_id: str
    url: str
    event_types: list[str]
    created_at: datetime
    pending: int  # deliveries still to be made
    dead: int  # deliveries given up


@dataclass(frozen=True, slots=True)
class DeliveryInfo:
    delivery_id: int
    webhook_id: str
    event_id: str
    event_type: str
    status: str  # pending | delivered | dead
    attempts: int
    last_status: int | None
    last_error: str | None
    created_at: datetime
    next_attempt_at: datetime
    finished_at: datetime | None


@dataclass(frozen=True, slots=True)
class DueDelivery:
    delivery_id: int
    event_id: str
    body: str
    attempts: int
    url: str
    secret: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class Attempt:
    delivered: bool
    http_status: int | None = None
    error: str | None = None
    final: bool = False  # no later attempt could succeed (the target is refused)


@dataclass(frozen=True, slots=True)
class QueueStats:
    waiting: int  # jobs due and not yet taken
    failed: int  # jobs that ended in failure (kept to inspect)
    oldest_waiting_s: float  # how long the oldest due job has waited


class OutageGate:
    """Once the database failed, callers are told at once that it is unavailable instead of each
    waiting out the pool's timeout; every `pause` seconds one caller (the probe) tries again."""

    PROBE_TIMEOUT = 2.0

    def __init__(self, pause: float = 0.5, clock: Callable[[], float] = time.monotonic) -> None:
        self._pause = pause
        self._clock = clock
        self._down = False
        self._probing = False
        self._retry_at = 0.0

    def admit(self) -> float | None:
        """The time this caller may wait for a connection (None: the pool's own); raises
        StoreUnavailable while the database is down and it is not this caller's turn to probe."""
        if not self._down:
            return None
        if self._probing or self._clock() < self._retry_at:
            raise StoreUnavailable("the database is unavailable")
        self._probing = True
        return self.PROBE_TIMEOUT

    def succeeded(self) -> None:
        self._down = False

    def failed(self) -> bool:
        """Note the database down; True when it was up until now."""
        was_up = not self._down
        self._down = True
        self._retry_at = self._clock() + self._pause
        return was_up

    def finished(self, probe: float | None) -> None:
        if probe is not None:
            self._probing = False


@dataclass(frozen=True, slots=True)
class KeyRecord:
    secret: bytes
    fleets: frozenset[str]


@dataclass(frozen=True, slots=True)
class TokenRecord:
    token_id: str
    fleets: frozenset[str]


@dataclass(frozen=True, slots=True)
class DeviceRecord:
    """The vehicle a device credential reports as."""

    device_id: str
    fleet_id: str
    vehicle_id: str
    owntracks_key: str | None = None  # OwnTracks' payload encryption key, when it has one


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    """A device as listed: never its secret."""

    device_id: str
    fleet_id: str
    vehicle_id: str
    created_at: datetime
    revoked_at: datetime | None
    last_seen_at: datetime | None
    battery_percent: float | None
    last_rejection: str | None
    last_rejection_at: datetime | None


@dataclass(frozen=True, slots=True)
class CredentialInfo:
    """A key or token as listed: never its secret."""

    credential_id: str
    fleets: list[str]
    created_at: datetime
    revoked_at: datetime | None


@dataclass(frozen=True, slots=True)
class FleetSnapshot:
    seq: int
    positions: list[Fix]


class PostgresStore:
    def __init__(self, pool: Pool) -> None:
        self._pool = pool
        self._gate = OutageGate()

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[AsyncConnection[TupleRow]]:
        probe = self._gate.admit()
        try:
            async with self._pool.connection(timeout=probe) as conn:
                yield conn
        except PoolTimeout as error:
            # A busy pool is not an outage; a pool with no connection at all, or a probe that got none, is.
            if probe is not None or self._pool.get_stats().get("pool_size", 0) == 0:
                await self._went_down()
            raise StoreUnavailable(str(error)) from error
        except psycopg.OperationalError as error:
            if _connection_lost(error):  # not a query's own failure (a cancellation, a deadlock)
                await self._went_down()
            raise StoreUnavailable(str(error)) from error
        else:
            self._gate.succeeded()  # only once a query went through
        finally:
            self._gate.finished(probe)

    async def _went_down(self) -> None:
        if self._gate.failed():
            # The idle connections died with the server: drop them now, so that the probes that follow
            # get fresh connections instead of using up the dead ones one by one.
            with contextlib.suppress(Exception):
                await self._pool.check()

    async def _fetch(self, name: str, params: Mapping[str, object]) -> list[TupleRow]:
        async with self._connection() as conn:
            cursor = await conn.execute(QUERIES[name], params)
            return await cursor.fetchall()

    async def _fetch_none(self, name: str, params: Mapping[str, object]) -> None:
        async with self._connection() as conn:
            await conn.execute(QUERIES[name], params)

    # Fleets

    async def create_fleet(self, fleet: FleetSettings) -> bool:
        """False when a fleet with that id exists already."""
        params = {
            "fleet_id": fleet.fleet_id,
            "name": fleet.name,
            "offline_after_s": fleet.offline_after_s,
            "retention_days": fleet.retention_days,
            "max_vehicles": fleet.max_vehicles,
            "devices_see_fleet": fleet.devices_see_fleet,
        }
        return bool(await self._fetch("insert_fleet", params))

    async def get_fleet(self, fleet_id: str) -> FleetSettings | None:
        rows = await self._fetch("get_fleet", {"fleet_id": fleet_id})
        if not rows:
            return None
        fid, name, offline_after_s, retention_days, max_vehicles, devices_see_fleet = rows[0]
        return FleetSettings(str(fid), name, offline_after_s, retention_days, max_vehicles, bool(devices_see_fleet))

    async def missing_fleets(self, fleet_ids: Sequence[str]) -> list[str]:
        rows = await self._fetch("existing_fleets", {"fleet_ids": list(fleet_ids)})
        existing = {row[0] for row in rows}
        return [fleet_id for fleet_id in fleet_ids if fleet_id not in existing]

    # Credentials

    async def create_key(self, key_id: str, secret: str, fleet_ids: Sequence[str]) -> None:
        await self._insert_with_fleets(
            "insert_key", "insert_key_fleets", {"key_id": key_id, "secret": secret}, fleet_ids
        )

    async def get_key(self, key_id: str) -> KeyRecord | None:
        rows = await self._fetch("get_key", {"key_id": key_id})
        if not rows:
            return None
        secret, fleets = rows[0]
        return KeyRecord(str(secret).encode(), frozenset(fleets))

    async def create_token(self, token_id: str, token_sha256: bytes, fleet_ids: Sequence[str]) -> None:
        params = {"token_id": token_id, "token_sha256": token_sha256}
        await self._insert_with_fleets("insert_token", "insert_token_fleets", params, fleet_ids)

    async def get_token(self, token_sha256: bytes) -> TokenRecord | None:
        rows = await self._fetch("get_token", {"token_sha256": token_sha256})
        if not rows:
            return None
        token_id, fleets = rows[0]
        return TokenRecord(str(token_id), frozenset(fleets))

    async def create_session(self, session_sha256: bytes, token_id: str, seconds: int) -> None:
        params = {"session_sha256": session_sha256, "token_id": token_id, "seconds": seconds}
        async with self._connection() as conn:
            await conn.execute(QUERIES["insert_session"], params)

    async def get_session(self, session_sha256: bytes) -> TokenRecord | None:
        rows = await self._fetch("get_session", {"session_sha256": session_sha256})
        if not rows:
            return None
        token_id, fleets = rows[0]
        return TokenRecord(str(token_id), frozenset(fleets))

    async def delete_session(self, session_sha256: bytes) -> None:
        async with self._connection() as conn:
            await conn.execute(QUERIES["delete_session"], {"session_sha256": session_sha256})

    async def revoke(self, kind: str, credential_id: str) -> datetime | None:
        """Revoke a key or token (`kind` "key" or "token"): when it was revoked, None if there is none."""
        rows = await self._fetch(f"revoke_{kind}", {f"{kind}_id": credential_id})
        return rows[0][0] if rows else None

    async def key_fleets(self, key_id: str) -> list[str]:
        """The fleets of a key that is not revoked (empty when there is none)."""
        return [str(row[0]) for row in await self._fetch("key_fleets", {"key_id": key_id})]

    async def list_credentials(self, kind: str, fleet_id: str) -> list[CredentialInfo]:
        """The keys or tokens allowed for a fleet, revoked ones included, oldest first."""
        rows = await self._fetch(f"list_{kind}s", {"fleet_id": fleet_id})
        return [CredentialInfo(str(cid), list(fleets), created, revoked) for cid, created, revoked, fleets in rows]

    async def _insert_with_fleets(
        self, insert: str, link: str, params: Mapping[str, object], fleet_ids: Sequence[str]
    ) -> None:
        async with self._connection() as conn, conn.transaction():
            await conn.execute(QUERIES[insert], params)
            await conn.execute(QUERIES[link], {**params, "fleet_ids": list(fleet_ids)})

    # Positions and history

    async def load_fleet(self, fleet_id: str) -> FleetSnapshot:
        """Latest positions and the current seq, read in one snapshot."""
        async with self._connection() as conn, conn.transaction():
            await conn.execute(b"SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            cursor = await conn.execute(QUERIES["fleet_seq"], {"fleet_id": fleet_id})
            row = await cursor.fetchone()
            cursor = await conn.execute(QUERIES["latest_positions"], {"fleet_id": fleet_id})
            positions = [_fix(row) for row in await cursor.fetchall()]
        return FleetSnapshot(int(row[0]) if row else 0, positions)

    async def committed_seqs(self, fleet_ids: list[str]) -> dict[str, int]:
        """Each fleet's current seq, as committed."""
        return {str(fid): int(seq) for fid, seq in await self._fetch("fleet_seqs", {"fleet_ids": fleet_ids})}

    async def current_seq(self, fleet_id: str) -> int:
        rows = await self._fetch("fleet_seq", {"fleet_id": fleet_id})
        return int(rows[0][0]) if rows else 0

    async def events(self, fleet_id: str, after: int, upto: int) -> Committed:
        """The events with `after < seq <= upto`, in seq order."""
        rows = await self._fetch("events", {"fleet_id": fleet_id, "after": after, "upto": upto})
        return [(int(row[0]), _event(row[1:])) for row in rows]

    async def vehicle_exists(self, fleet_id: str, vehicle_id: str) -> bool:
        return bool(await self._fetch("vehicle_exists", {"fleet_id": fleet_id, "vehicle_id": vehicle_id}))

    async def track(self, fleet_id: str, vehicle_id: str, start: int, end: int | None, limit: int) -> list[Fix]:
        params = {
            "fleet_id": fleet_id,
            "vehicle_id": vehicle_id,
            "from": from_micros(start),
            "to": None if end is None else from_micros(end),
            "limit": limit,
        }
        rows = await self._fetch("track", params)
        return [_fix((vehicle_id, *row)) for row in rows]

    # Jobs

    async def sweep_offline(self, notify: Notify) -> dict[str, Committed]:
        """Turn offline the vehicles whose threshold has passed, one event each (harbor_sweep_offline)."""
        rows = await self._fetch("sweep_offline", {"channel": notify.channel, "origin": notify.origin})
        changes: dict[str, Committed] = {}
        for fleet_id, seq, vehicle_id, at in sorted(rows, key=lambda row: (str(row[0]), int(row[1]))):
            changes.setdefault(str(fleet_id), []).append((int(seq), StatusChange(str(vehicle_id), "offline", int(at))))
        return changes

    async def delete_expired(self, limit: int) -> int:
        """One bounded batch of retention (its own transactions); how many rows went."""
        rows = int((await self._fetch("delete_expired", {"limit": limit}))[0][0])
        async with self._connection() as conn:
            cursor = await conn.execute(QUERIES["delete_expired_deliveries"], {"limit": limit})
            return rows + max(cursor.rowcount, 0)

    async def drop_expired_partitions(self) -> int:
        return int((await self._fetch("drop_expired_partitions", {}))[0][0])

    async def make_partitions(self) -> int:
        return int((await self._fetch("make_partitions", {}))[0][0])

    async def queue_stats(self) -> QueueStats:
        waiting, failed, oldest = (await self._fetch("queue_stats", {}))[0]
        return QueueStats(int(waiting), int(failed), float(oldest))

    # Devices

    async def create_device(
        self, device_id: str, fleet_id: str, vehicle_id: str, token_sha256: bytes, owntracks_key: str | None
    ) -> None:
        params = {
            "device_id": device_id,
            "fleet_id": fleet_id,
            "vehicle_id": vehicle_id,
            "token_sha256": token_sha256,
            "owntracks_key": owntracks_key,
        }
        await self._fetch_none("insert_device", params)

    async def get_device(self, token_sha256: bytes) -> DeviceRecord | None:
        rows = await self._fetch("get_device", {"token_sha256": token_sha256})
        if not rows:
            return None
        device_id, fleet_id, vehicle_id, owntracks_key = rows[0]
        return DeviceRecord(str(device_id), str(fleet_id), str(vehicle_id), owntracks_key)

    async def list_devices(self, fleet_id: str) -> list[DeviceInfo]:
        return [DeviceInfo(*row) for row in await self._fetch("list_devices", {"fleet_id": fleet_id})]

    async def revoke_device(self, device_id: str) -> datetime | None:
        rows = await self._fetch("revoke_device", {"device_id": device_id})
        return rows[0][0] if rows else None

    async def device_seen(self, device_id: str, battery: tuple[float, int] | None, rejection: str | None) -> None:
        """Note a device as heard; `battery` is a reading (percent, when taken in µs), ignored when older than
        the one kept."""
        percent, taken_at = battery if battery is not None else (None, None)
        params = {"device_id": device_id, "battery": percent, "battery_at": taken_at, "rejection": rejection}
        await self._fetch_none("device_seen", params)

    # Webhooks

    async def create_webhook(self, webhook_id: str, fleet_id: str, url: str, types: list[str], secret: str) -> None:
        params = {"webhook_id": webhook_id, "fleet_id": fleet_id, "url": url, "event_types": types, "secret": secret}
        await self._fetch_none("insert_webhook", params)

    async def list_webhooks(self, fleet_id: str) -> list[WebhookInfo]:
        return [WebhookInfo(*row) for row in await self._fetch("list_webhooks", {"fleet_id": fleet_id})]

    async def delete_webhook(self, webhook_id: str) -> bool:
        return bool(await self._fetch("delete_webhook", {"webhook_id": webhook_id}))

    async def list_deliveries(self, fleet_id: str, status: str | None, limit: int) -> list[DeliveryInfo]:
        rows = await self._fetch("list_deliveries", {"fleet_id": fleet_id, "status": status, "limit": limit})
        return [DeliveryInfo(*row) for row in rows]

    async def lease_due_deliveries(self, limit: int, lease_seconds: float) -> list[tuple[int, int]]:
        """Deliveries due now, each with its attempts so far, leased for `lease_seconds`."""
        rows = await self._fetch("lease_due_deliveries", {"limit": limit, "lease": lease_seconds})
        return [(int(row[0]), int(row[1])) for row in rows]

    async def due_delivery(self, delivery_id: int, attempts: int) -> DueDelivery | None:
        """The delivery, if still pending with `attempts` made (otherwise another attempt got there)."""
        rows = await self._fetch("get_delivery", {"delivery_id": delivery_id, "attempts": attempts})
        return DueDelivery(*rows[0]) if rows else None

    async def record_delivery(self, due: DueDelivery, attempt: Attempt, retry_at: datetime | None) -> None:
        params = {
            "delivery_id": due.delivery_id,
            "attempts": due.attempts,
            "delivered": attempt.delivered,
            "http_status": attempt.http_status,
            "error": attempt.error,
            "retry_at": retry_at,
        }
        await self._fetch_none("record_delivery", params)

    # Operations

    async def schema_version(self) -> int:
        from harbor_fleet.adapters.postgres.migrations import current_version

        async with self._connection() as conn:
            return await current_version(conn)


def _connection_lost(error: psycopg.OperationalError) -> bool:
    """The connection failed (no SQLSTATE: a client-side failure; class 08; the server shutting down)."""
    state = error.sqlstate
    return state is None or state.startswith("08") or state in ("57P01", "57P02", "57P03")


def _event(row: Sequence[object]) -> Event:
    """(vehicle_id, recorded_at, lat, lng, speed, heading, accuracy, status): a status event has a status."""
    status = row[-1]
    if status is None:
        return _fix(row[:-1])
    assert status in ("online", "offline") and isinstance(row[1], datetime)
    return StatusChange(str(row[0]), status, to_micros(row[1]))


def _fix(row: Sequence[object]) -> Fix:
    vehicle_id, recorded_at, lat, lng, speed, heading, accuracy = row
    assert isinstance(recorded_at, datetime)
    return Fix(str(vehicle_id), to_micros(recorded_at), lat, lng, speed, heading, accuracy)  # type: ignore[arg-type]
