"""The group-commit writer: one per process, one connection, one transaction per batch.

Concurrent ingest requests queue here (bounded: past `max_pending_fixes` callers are told to come back
later); the writer takes as many as fit in a batch, stores them in one transaction (batch_store.py)
and answers each only after that transaction committed: acknowledged = durable. Committed events are
handed on (`on_commit`) before any request of the batch is answered, so the answer's sender can read
its own writes.
"""

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import psycopg
from psycopg import AsyncConnection
from psycopg.rows import TupleRow

from harbor_fleet import metrics
from harbor_fleet.adapters.postgres import database
from harbor_fleet.adapters.postgres.batch_store import (
    NO_NOTIFY,
    Notify,
    Submitted,
    VehicleCapReached,
    WriteFailed,
    WriteOutcome,
    Written,
    store_batch,
)
from harbor_fleet.adapters.postgres.store import StoreUnavailable
from harbor_fleet.domain.events import Committed
from harbor_fleet.domain.fixes import Fix

__all__ = [
    "NO_NOTIFY",
    "GroupCommitWriter",
    "Notify",
    "VehicleCapReached",
    "WriteFailed",
    "WriteOutcome",
    "WriterOverloaded",
    "Written",
]

OnCommit = Callable[[str, Committed], Awaitable[None]]
Uncertain = Callable[[set[str]], None]


class WriterOverloaded(Exception):
    """Too many fixes are waiting to be written; try again shortly."""


@dataclass(slots=True)
class _Request(Submitted):
    future: asyncio.Future[WriteOutcome]


class GroupCommitWriter:
    def __init__(
        self,
        url: str,
        *,
        max_batch_fixes: int,
        max_pending_fixes: int,
        on_commit: OnCommit,
        on_uncertain: Uncertain,
        notify: Notify = NO_NOTIFY,
    ) -> None:
        self._url = url
        self._notify = notify
        self._max_batch = max_batch_fixes
        self._max_pending = max_pending_fixes
        self._on_commit = on_commit
        self._on_uncertain = on_uncertain
        self._queue: deque[_Request] = deque()
        self._pending_fixes = 0
        self._wakeup = asyncio.Event()
        self._conn: AsyncConnection[TupleRow] | None = None
        self._closing = False

    async def write(self, fleet_id: str, fixes: Sequence[Fix]) -> WriteOutcome:
        """Store `fixes`; returns once committed (repeats of a fix count as duplicates)."""
        if self._closing:
            raise StoreUnavailable("the writer is shutting down")
        if self._pending_fixes + len(fixes) > self._max_pending:
            raise WriterOverloaded
        future: asyncio.Future[WriteOutcome] = asyncio.get_running_loop().create_future()
        self._queue.append(_Request(fleet_id, fixes, future))
        self._pending_fixes += len(fixes)
        self._wakeup.set()
        # A client going away cancels only its wait: the batch holding its fixes is written all the same.
        return await future

    @property
    def pending_fixes(self) -> int:
        return self._pending_fixes

    @property
    def full(self) -> bool:
        """No more fixes are taken until some are written."""
        return self._pending_fixes >= self._max_pending

    async def run(self) -> None:
        """Write batches until closed and drained."""
        try:
            while not (self._closing and not self._queue):
                if not self._queue:
                    self._wakeup.clear()
                    await self._wakeup.wait()
                    continue
                await self._write_batch(self._take_batch())
        finally:
            if self._conn is not None:
                await self._conn.close()

    def close(self) -> None:
        """Stop taking requests; `run` returns once those queued are written."""
        self._closing = True
        self._wakeup.set()

    def _take_batch(self) -> list[_Request]:
        batch = [self._queue.popleft()]
        size = len(batch[0].fixes)
        while self._queue and size + len(self._queue[0].fixes) <= self._max_batch:
            request = self._queue.popleft()
            batch.append(request)
            size += len(request.fixes)
        return batch

    async def _write_batch(self, batch: list[_Request]) -> None:
        started = time.perf_counter()
        size = sum(len(request.fixes) for request in batch)
        try:
            stored = await store_batch(await self._connection(), batch, self._notify)
        except psycopg.OperationalError as error:
            await self._drop_connection()
            self._fail(batch, StoreUnavailable(str(error)))
            self._on_uncertain({request.fleet_id for request in batch})
            return
        except BaseException:
            # Whatever the commit did, nobody waits forever: fail the batch, then let the supervisor see it.
            await self._drop_connection()
            self._fail(batch, StoreUnavailable("the writer failed"))
            self._on_uncertain({request.fleet_id for request in batch})
            raise
        finally:
            self._pending_fixes -= size
        metrics.WRITER_COMMIT.observe(time.perf_counter() - started)
        metrics.WRITER_BATCH.observe(size)
        for fleet_id, events in stored.events.items():
            await self._on_commit(fleet_id, events)
        for request, outcome in zip(batch, stored.outcomes, strict=True):
            if not request.future.done():
                if isinstance(outcome, WriteFailed):
                    request.future.set_exception(outcome)
                else:
                    request.future.set_result(outcome)

    def _fail(self, batch: list[_Request], error: Exception) -> None:
        for request in batch:
            if not request.future.done():
                request.future.set_exception(error)

    async def _connection(self) -> AsyncConnection[TupleRow]:
        if self._conn is None or self._conn.closed:
            self._conn = await database.connect(self._url)
        return self._conn

    async def _drop_connection(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(psycopg.Error):
                await self._conn.close()
        self._conn = None
