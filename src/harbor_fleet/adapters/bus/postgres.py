"""The PostgreSQL bus: processes sharing a database hear each other's commits through LISTEN/NOTIFY,
with nothing else to run.

The writer's transaction itself sends the notification (`store_fixes` in queries.sql), so a commit is
announced exactly when it happens and never when it does not. A notification names the fleet, its seq
range and the process that committed it; it stays a few dozen bytes, however large the batch, far
under PostgreSQL's 8000-byte limit. This process's own commits are published to it directly; another
process's are read once from PostgreSQL (`fetch`), for the fleets this process holds (`wanted`).

One connection listens. When it is lost the bus is unhealthy (/ready says so) and reconnects with
backoff; once back it reports `Lost`, and consumers resynchronise from PostgreSQL.
"""

import contextlib
import json
import logging
from collections.abc import Awaitable, Callable

import psycopg
from psycopg import AsyncConnection

from harbor_fleet.adapters.bus.base import Delivery, ListeningBus, Lost, fleet_topic

log = logging.getLogger(__name__)

CHANNEL = "harbor_fleet_events"

Fetch = Callable[[str, int, int], Awaitable[bytes | None]]  # (fleet, after seq, up to seq) → a bus message


class PostgresBus(ListeningBus):
    def __init__(
        self, url: str, origin: str, fetch: Fetch, wanted: Callable[[str], bool], capacity: int = 10_000
    ) -> None:
        super().__init__(capacity)
        self._url = url
        self._origin = origin
        self._fetch = fetch
        self._wanted = wanted
        self._first: AsyncConnection[tuple[object, ...]] | None = None

    async def start(self) -> None:
        """Listen before the service takes requests (start-up fails while PostgreSQL is down anyway)."""
        self._first = await _listener(self._url)
        self._listening = True  # run() takes this connection over

    async def stop(self) -> None:
        if self._first is not None:
            with contextlib.suppress(psycopg.Error):
                await self._first.close()

    async def publish(self, topic: str, data: bytes) -> None:
        self._put(Delivery(topic, bytes(data)))  # our own commit: the others hear it from PostgreSQL

    async def run(self) -> None:
        while True:
            try:
                first, self._first = self._first, None
                async with first or await _listener(self._url) as conn:
                    self._connected("postgres")
                    async for notification in conn.notifies():
                        await self._heard(notification.payload)
            except psycopg.OperationalError as error:
                await self._reconnect_later("postgres", error)

    async def _heard(self, payload: str) -> None:
        try:
            note = json.loads(payload)
            fleet_id, first, last, origin = note["fleet"], int(note["first"]), int(note["last"]), note["origin"]
        except (ValueError, KeyError, TypeError):
            log.warning("postgres bus: ignored a notification it cannot read")
            return
        if origin == self._origin or not self._wanted(fleet_id):
            return
        try:
            data = await self._fetch(fleet_id, first - 1, last)
        except Exception:  # the database is the bus here: a failed read is a gap, and consumers resync
            log.warning("postgres bus: could not read announced events", exc_info=True)
            self._put(Lost("announced events could not be read"))
            return
        if data:
            self._put(Delivery(fleet_topic(fleet_id), data))


async def _listener(url: str) -> AsyncConnection[tuple[object, ...]]:
    conn = await AsyncConnection.connect(
        url,
        autocommit=True,
        connect_timeout=5,
        keepalives=1,
        keepalives_idle=5,
        keepalives_interval=2,
        keepalives_count=3,
    )
    try:
        await conn.execute(f"LISTEN {CHANNEL}".encode())
    except BaseException:
        with contextlib.suppress(psycopg.Error):
            await conn.close()
        raise
    return conn
