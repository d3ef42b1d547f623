"""The Redis bus: for many nodes and large fan-out (`HARBOR_PUBSUB=redis://host:6379/0`).

A commit's message (its frames, encoded once) is delivered to this process directly, and a sender task
sends it to Redis on the channel `harbor:{namespace}:fleet:{id}`: a slow or absent Redis never holds up
the writer (the outbox is bounded; what it cannot hold is a gap). The namespace is the PostgreSQL
database's name: Redis channels are global, and only processes sharing a database share fleets. Every
process subscribes to its namespace and skips its own messages (each starts with the sending process's
name and the time it published, `<origin>@<seconds>`, then a newline and the frames). Redis keeps
nothing: a process that was disconnected reports `Lost` once it is back, and consumers resynchronise
from PostgreSQL.
"""

import asyncio
import contextlib
import logging
import time

from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError

from harbor_fleet.adapters.bus.base import Backoff, Delivery, ListeningBus

log = logging.getLogger(__name__)


class RedisBus(ListeningBus):
    def __init__(self, url: str, origin: str, namespace: str, capacity: int = 10_000, *, listen: bool = True) -> None:
        super().__init__(capacity)
        self._listen = listen  # False: only publish (a process that holds no fleet, such as the job worker)
        self._url = url
        self._prefix = f"harbor:{namespace}:"
        self._origin = origin.encode()
        self._outbox: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue(maxsize=capacity)
        self._client: Redis | None = None
        self._first: PubSub | None = None

    async def start(self) -> None:
        """Subscribe before the service takes requests when Redis is there; when it is not, the service
        starts all the same (/ready says the bus is disconnected) and keeps trying."""
        self._client = Redis.from_url(self._url, socket_connect_timeout=5, socket_keepalive=True)
        if not self._listen:
            self._listening = True
            return
        pubsub = self._client.pubsub(ignore_subscribe_messages=True)
        try:
            async with asyncio.timeout(5):
                await pubsub.psubscribe(self._prefix + "fleet:*")
        except (RedisError, OSError, TimeoutError) as error:
            log.warning("redis bus: not subscribed at start, will keep trying: %s", error)
            with contextlib.suppress(RedisError, OSError):
                await pubsub.aclose()  # type: ignore[no-untyped-call]
            return
        self._first = pubsub
        self._listening = True  # run() takes this subscription over

    async def stop(self) -> None:
        if self._client is not None:
            await self._client.aclose()

    async def publish(self, topic: str, data: bytes) -> None:
        if self._listen:
            self._put(Delivery(topic, bytes(data)))
        try:
            sent = f"@{time.time():.6f}".encode()
            self._outbox.put_nowait((self._prefix + topic, self._origin + sent + b"\n" + data))
        except asyncio.QueueFull:
            log.warning("redis bus: outbox full, a commit was not sent (other processes resync)")

    async def run(self) -> None:
        async with asyncio.TaskGroup() as group:
            group.create_task(self._send_forever(), name="redis-bus-send")
            if self._listen:
                group.create_task(self._listen_forever(), name="redis-bus-listen")

    async def _send_forever(self) -> None:
        client = self._require_client()
        backoff = Backoff()
        while True:
            channel, message = await self._outbox.get()
            while True:
                try:
                    await client.publish(channel, message)
                    backoff.reset()
                    break
                except (RedisError, OSError) as error:
                    log.warning("redis bus: publish failed, retrying in %.1f s: %s", backoff.delay, error)
                    await backoff.pause()

    async def _listen_forever(self) -> None:
        client = self._require_client()
        while True:
            pubsub, self._first = self._first, None
            lost: Exception = ConnectionError("the subscription ended")
            try:
                if pubsub is None:
                    pubsub = client.pubsub(ignore_subscribe_messages=True)
                    await pubsub.psubscribe(self._prefix + "fleet:*")
                self._connected("redis")
                async for message in pubsub.listen():
                    self._heard(message)
            except (RedisError, OSError) as error:
                lost = error
            finally:
                if pubsub is not None:
                    with contextlib.suppress(RedisError, OSError):
                        await pubsub.aclose()  # type: ignore[no-untyped-call]
            await self._reconnect_later("redis", lost)

    def _heard(self, message: dict[str, object]) -> None:
        channel, data = message.get("channel"), message.get("data")
        if message.get("type") != "pmessage" or not isinstance(channel, bytes) or not isinstance(data, bytes):
            return
        head, _, frames = data.partition(b"\n")
        origin, _, sent = head.partition(b"@")  # "@<publication time>" is absent from older processes
        if origin != self._origin and frames:
            self._put(Delivery(channel.decode()[len(self._prefix) :], frames, _seconds(sent) or time.time()))

    def _require_client(self) -> Redis:
        if self._client is None:
            raise RuntimeError("the Redis bus was not started")
        return self._client


def _seconds(text: bytes) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None
