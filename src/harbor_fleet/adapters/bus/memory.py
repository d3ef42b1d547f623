"""The in-process bus: one process, no network. Messages are copied, as a network would, and the
buffer is bounded: when the consumer falls that far behind, it is told `Lost` and resynchronises."""

import asyncio
from collections.abc import AsyncIterator

from harbor_fleet.adapters.bus.base import Bus, Delivery, Lost


class MemoryBus(Bus):
    def __init__(self, capacity: int = 10_000) -> None:
        self._queue: asyncio.Queue[Delivery] = asyncio.Queue(maxsize=capacity)
        self._lost = False

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def publish(self, topic: str, data: bytes) -> None:
        try:
            self._queue.put_nowait(Delivery(topic, bytes(data)))
        except asyncio.QueueFull:
            self._lost = True

    async def deliveries(self) -> AsyncIterator[Delivery | Lost]:
        while True:
            delivery = await self._queue.get()
            if self._lost:
                self._lost = False
                yield Lost("the in-process bus overflowed")
            yield delivery
