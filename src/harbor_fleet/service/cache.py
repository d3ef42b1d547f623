"""A read-through cache with a time to live. It never remembers "not found", so what a command
creates is usable at once on every process; what it changes is seen within the TTL. Concurrent misses
of one key share a single read, so an expiring hot entry costs one query, not one per request. When a
read fails with one of `stale_if_error`, an entry expired less than `max_stale` seconds ago is answered
instead: a database outage does not lock out callers already known. (A revocation committed within one
TTL before the outage is seen only when the database is back, or once `max_stale` has passed.)"""

import asyncio
import time
from collections.abc import Callable, Coroutine
from typing import Any, Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class ReadThrough(Generic[K, V]):
    def __init__(
        self,
        load: Callable[[K], Coroutine[Any, Any, V | None]],
        ttl: float,
        max_entries: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
        stale_if_error: tuple[type[Exception], ...] = (),
        max_stale: float = 300.0,
    ) -> None:
        self._load = load
        self._stale_if_error = stale_if_error
        self._max_stale = max_stale
        self._ttl = ttl
        self._max_entries = max_entries
        self._clock = clock
        self._entries: dict[K, tuple[float, V]] = {}
        self._loading: dict[K, asyncio.Task[V | None]] = {}

    async def get(self, key: K) -> V | None:
        entry = self._entries.get(key)
        if entry is not None and entry[0] > self._clock():
            return entry[1]
        loading = self._loading.get(key)
        if loading is None:
            # The read is a task of the cache's own, so a caller that gives up cancels only its wait.
            loading = asyncio.get_running_loop().create_task(self._load(key), name="cache-read")
            self._loading[key] = loading
            loading.add_done_callback(lambda task: self._loaded(key, task))
        try:
            return await asyncio.shield(loading)
        except self._stale_if_error:
            if entry is None or entry[0] + self._max_stale < self._clock():
                raise
            return entry[1]

    def _loaded(self, key: K, task: "asyncio.Task[V | None]") -> None:
        del self._loading[key]
        if not task.cancelled() and task.exception() is None:
            self._store(key, task.result())

    def _store(self, key: K, value: V | None) -> None:
        if value is None:
            self._entries.pop(key, None)
            return
        if len(self._entries) >= self._max_entries:
            self._entries.clear()  # bounded: a flood of distinct credentials costs reads, not memory
        self._entries[key] = (self._clock() + self._ttl, value)

    def forget(self, key: K) -> None:
        self._entries.pop(key, None)
