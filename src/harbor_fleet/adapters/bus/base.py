"""The bus port: publish bytes on a topic; one stream of everything published, per process.

Every process keeps a full replica of every fleet's latest positions and serves any fleet's live
stream, so a process receives every topic; topics (`fleet:{fleet_id}`) tell the fleet. A backend that
loses messages (a full buffer, a dropped connection) says so with `Lost`, and consumers resynchronise
from PostgreSQL, the source of truth.
"""

import asyncio
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Delivery:
    topic: str
    data: bytes


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


def fleet_topic(fleet_id: str) -> str:
    return f"fleet:{fleet_id}"


def fleet_of(topic: str) -> str | None:
    return topic[6:] if topic.startswith("fleet:") else None
