"""The jobs. Each runs in whichever process's worker takes it first; what a job needs of that process
(the store, how to announce committed events) comes in the worker's context as `JobResources`.

Periodic jobs are deferred by every worker and kept once per period by the queue; a queueing lock keeps
at most one waiting, and a lock keeps two from running at once (a slow sweep is not piled on). `register`
puts the jobs on a queue (procrastinate binds a task to one app, and tests run several per process)."""

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import procrastinate
from procrastinate import JobContext

from harbor_fleet.adapters.postgres.batch_store import Notify
from harbor_fleet.adapters.postgres.store import PostgresStore
from harbor_fleet.domain.events import Committed

log = logging.getLogger(__name__)
OnCommit = Callable[[str, Committed], Awaitable[None]]
CONTEXT_KEY = "harbor"


@dataclass(frozen=True, slots=True)
class JobResources:
    store: PostgresStore
    notify: Notify  # the PostgreSQL bus's channel, if that is the bus, so commits announce themselves
    announce: OnCommit  # hand committed events to this process's trackers and bus


def resources(context: JobContext) -> JobResources:
    found = context.additional_context[CONTEXT_KEY]
    assert isinstance(found, JobResources)
    return found


RETENTION_BATCH = 5_000  # rows per statement: each a short transaction of its own


def register(queue: procrastinate.App) -> None:
    sweep = queue.task(
        name="harbor:sweep_offline", pass_context=True, queueing_lock="sweep_offline", lock="sweep_offline"
    )(sweep_offline)
    queue.periodic(cron="* * * * * *", periodic_id="every-second")(sweep)  # croniter: a sixth field is seconds
    retention = queue.task(
        name="harbor:apply_retention", pass_context=True, queueing_lock="apply_retention", lock="apply_retention"
    )(apply_retention)
    queue.periodic(cron="17 * * * *", periodic_id="hourly")(retention)


async def sweep_offline(context: JobContext, timestamp: int) -> None:
    """Vehicles silent past their fleet's threshold turn offline, each with one vehicle_status event."""
    harbor = resources(context)
    for fleet_id, events in (await harbor.store.sweep_offline(harbor.notify)).items():
        await harbor.announce(fleet_id, events)


async def apply_retention(context: JobContext, timestamp: int) -> None:
    """History past each fleet's retention goes (latest positions stay); partitions are kept a week ahead."""
    store = resources(context).store
    dropped = await store.drop_expired_partitions()
    deleted = 0
    while not context.should_abort() and (batch := await store.delete_expired(RETENTION_BATCH)):
        deleted += batch
    made = await store.make_partitions()
    log.info(
        "retention applied", extra={"partitions_dropped": dropped, "rows_deleted": deleted, "partitions_made": made}
    )
