"""The in-process bus: one process, no network. Messages are copied, as a network would, and the
buffer is bounded: when the consumer falls that far behind, it is told `Lost` and resynchronises."""

from harbor_fleet.adapters.bus.base import BufferedBus, Delivery


class MemoryBus(BufferedBus):
    def __init__(self, capacity: int = 10_000) -> None:
        super().__init__(capacity)

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def publish(self, topic: str, data: bytes) -> None:
        self._put(Delivery(topic, bytes(data)))
