"""The PostgreSQL bus: processes sharing a database hear each other's commits through LISTEN/NOTIFY,
with nothing else to run.

The writer's transaction itself sends the notification (`harbor_store_fixes`, migration 0004), so a commit
is announced exactly when it happens and never when it does not. A notification names the fleet, its seq
range and the process that committed it, and carries the events themselves when they fit (small batches,
the common case under many small requests), always under PostgreSQL's 8000-byte limit. This process's own
commits are published to it directly; another process's are taken from the notification, or read once
from PostgreSQL (`fetch`) when they did not fit, for the fleets this process holds (`wanted`).

One connection listens. When it is lost the bus is unhealthy (/ready says so) and reconnects with
backoff; once back it reports `Lost`, and consumers resynchronise from PostgreSQL.
"""

import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

import msgspec
import psycopg
from psycopg import AsyncConnection

from harbor_fleet.adapters.bus.base import Delivery, ListeningBus, Lost, fleet_topic
from harbor_fleet.domain.events import Committed
from harbor_fleet.domain.fixes import Fix

log = logging.getLogger(__name__)

CHANNEL = "harbor_fleet_events"

Fetch = Callable[[str, int, int], Awaitable[bytes | None]]  # (fleet, after seq, up to seq) → a bus message
Encode = Callable[[Committed], bytes]  # (seq, event) events → a bus message

# An event as a notification carries it: seq, vehicle_id, recorded_at (µs), lat, lng, speed, heading, accuracy
CarriedEvent = tuple[int, str, int, float, float, float | None, float | None, float | None]


class Announcement(msgspec.Struct):
    fleet: str
    first: int
    last: int
    origin: str
    # Left undecoded until this process takes them (never for its own commits); empty when not carried.
    events: msgspec.Raw = msgspec.Raw()


_read_announcement = msgspec.json.Decoder(Announcement).decode
_read_events = msgspec.json.Decoder(list[CarriedEvent]).decode


class PostgresBus(ListeningBus):
    def __init__(
        self,
        url: str,
        origin: str,
        fetch: Fetch,
        encode: Encode,
        wanted: Callable[[str], bool],
        capacity: int = 10_000,
    ) -> None:
        super().__init__(capacity)
        self._url = url
        self._origin = origin
        self._fetch = fetch
        self._encode = encode
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
        heard_at = time.time()  # a notification says nothing of when it was sent: lag is counted from here
        try:
            note = _read_announcement(payload)
        except msgspec.DecodeError:
            log.warning("postgres bus: ignored a notification it cannot read")
            return
        if note.origin == self._origin or not self._wanted(note.fleet):
            return
        if note.events:
            data: bytes | None = self._carried(note.events)
        else:
            data = await self._read_back(note)
        if data:
            self._put(Delivery(fleet_topic(note.fleet), data, heard_at))

    def _carried(self, events: msgspec.Raw) -> bytes | None:
        try:
            carried = _read_events(events)
        except msgspec.DecodeError:
            log.warning("postgres bus: ignored events it cannot read")
            self._put(Lost("announced events could not be read"))
            return None
        return self._encode([(event[0], Fix(*event[1:])) for event in carried])

    async def _read_back(self, note: Announcement) -> bytes | None:
        try:
            return await self._fetch(note.fleet, note.first - 1, note.last)
        except Exception:  # the database is the bus here: a failed read is a gap, and consumers resync
            log.warning("postgres bus: could not read announced events", exc_info=True)
            self._put(Lost("announced events could not be read"))
            return None


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
