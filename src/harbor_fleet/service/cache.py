"""A read-through cache with a time to live. It never remembers "not found", so what a command
creates is usable at once on every process; what it changes is seen within the TTL."""

import time
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class ReadThrough(Generic[K, V]):
    def __init__(
        self,
        load: Callable[[K], Awaitable[V | None]],
        ttl: float,
        max_entries: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._load = load
        self._ttl = ttl
        self._max_entries = max_entries
        self._clock = clock
        self._entries: dict[K, tuple[float, V]] = {}

    async def get(self, key: K) -> V | None:
        now = self._clock()
        entry = self._entries.get(key)
        if entry is not None and entry[0] > now:
            return entry[1]
        value = await self._load(key)
        if value is None:
            self._entries.pop(key, None)
            return None
        if len(self._entries) >= self._max_entries:
            self._entries.clear()  # bounded: a flood of distinct credentials costs reads, not memory
        self._entries[key] = (now + self._ttl, value)
        return value

    def forget(self, key: K) -> None:
        self._entries.pop(key, None)
