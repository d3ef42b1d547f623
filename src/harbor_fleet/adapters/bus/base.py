"""The bus port: publish bytes on a topic; one stream of everything published, per process.

Every process keeps a full replica of every fleet's latest positions and serves any fleet's live
stream, so a process receives every topic; topics (`fleet:{fleet_id}`) tell the fleet. A backend that
loses messages (a full buffer, a dropped connection) says so with `Lost`, and consumers resynchronise
from PostgreSQL, the source of truth.
"""

import asyncio
import logging
import time
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Delivery:
    topic: str
    data: bytes
    # When the message was published (wall clock, seconds since the epoch), as far as this process can
    # tell: the consumer's bus lag is measured from it.
    sent_at: float = field(default_factory=time.time)


@dataclass(frozen=True, slots=True)
class Lost:
    """Some messages did not arrive; what was published since is unknown."""

    reason: str


class Bus(ABC):
    @abstractmethod
    async def start(self) -> None: ...

    @abstractmethod
    async def stop(self) -> None: ...

    @abstractmethod
    async def publish(self, topic: str, data: bytes) -> None:
        """Send `data` to every process's stream (this one's included)."""

    @abstractmethod
    def deliveries(self) -> AsyncIterator[Delivery | Lost]:
        """Everything published, in publication order per topic; one consumer per process."""

    async def run(self) -> None:
        """The backend's own work (listening to the network), run as a supervised child; it keeps its
        connection (reconnecting with backoff) and reports a gap as `Lost`. Returns only when cancelled."""
        await asyncio.Event().wait()

    @property
    def healthy(self) -> bool:
        """False while the backend cannot receive (then /ready says so)."""
        return True


class BufferedBus(Bus):
    """A bus whose deliveries wait in a bounded buffer for the one consumer; when the buffer overflows,
    the consumer is told `Lost` before the next delivery, and resynchronises."""

    def __init__(self, capacity: int) -> None:
        self._queue: asyncio.Queue[Delivery | Lost] = asyncio.Queue(maxsize=capacity)
        self._lost = False

    async def deliveries(self) -> AsyncIterator[Delivery | Lost]:
        while True:
            item = await self._queue.get()
            if self._lost:
                self._lost = False
                yield Lost("the bus buffer overflowed")
            yield item

    def _put(self, item: "Delivery | Lost") -> None:
        try:
            self._queue.put_nowait(item)
        except asyncio.QueueFull:
            self._lost = True


class Backoff:
    """Pauses between reconnection attempts: 0.1 s, doubling up to 5 s; back to 0.1 s once connected."""

    FIRST = 0.1
    MOST = 5.0

    def __init__(self) -> None:
        self.delay = self.FIRST

    def reset(self) -> None:
        self.delay = self.FIRST

    async def pause(self) -> None:
        await asyncio.sleep(self.delay)  # reconnection backoff, not synchronisation
        self.delay = min(self.delay * 2, self.MOST)


class ListeningBus(BufferedBus):
    """A bus with a network connection to listen on: unhealthy while it is down; once it is back after a
    loss, what was sent meanwhile is unknown, so the consumer is told `Lost` and resynchronises."""

    def __init__(self, capacity: int) -> None:
        super().__init__(capacity)
        self._listening = False
        self._heard_before = False
        self._backoff = Backoff()

    @property
    def healthy(self) -> bool:
        return self._listening

    def _connected(self, name: str) -> None:
        if self._heard_before:
            self._put(Lost(f"the {name} bus reconnected"))
        self._heard_before = True
        self._listening = True
        self._backoff.reset()

    async def _reconnect_later(self, name: str, error: Exception) -> None:
        self._listening = False
        log.warning("%s bus: connection lost, retrying in %.1f s: %s", name, self._backoff.delay, error)
        await self._backoff.pause()


def fleet_topic(fleet_id: str) -> str:
    return f"fleet:{fleet_id}"


def fleet_of(topic: str) -> str | None:
    return topic[6:] if topic.startswith("fleet:") else None
