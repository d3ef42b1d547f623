"""The jobs. Each runs in whichever process's worker takes it first; what a job needs of that process
(the store, how to announce committed events) comes in the worker's context as `JobResources`.

Periodic jobs are deferred by every worker and kept once per period by the queue; a queueing lock keeps
at most one waiting, and a lock keeps two from running at once (a slow sweep is not piled on). `register`
puts the jobs on a queue (procrastinate binds a task to one app, and tests run several per process)."""

import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import procrastinate
from procrastinate import JobContext

from harbor_fleet.adapters.postgres.batch_store import Notify
from harbor_fleet.adapters.postgres.store import PostgresStore
from harbor_fleet.domain.events import Committed
from harbor_fleet.jobs.webhooks import DISPATCH_BATCH, Sender, deliver

log = logging.getLogger(__name__)
OnCommit = Callable[[str, Committed], Awaitable[None]]
CONTEXT_KEY = "harbor"


@dataclass(frozen=True, slots=True)
class JobResources:
    store: PostgresStore
    notify: Notify  # the PostgreSQL bus's channel, if that is the bus, so commits announce themselves
    announce: OnCommit  # hand committed events to this process's trackers and bus
    sender: Sender  # makes webhook delivery attempts


def resources(context: JobContext) -> JobResources:
    found = context.additional_context[CONTEXT_KEY]
    assert isinstance(found, JobResources)
    return found


RETENTION_BATCH = 5_000  # rows per statement: each a short transaction of its own
DELIVER = "harbor:deliver_webhook"


def register(queue: procrastinate.App) -> None:
    _periodic(queue, "sweep_offline", "* * * * * *", sweep_offline)  # croniter: a sixth field is seconds
    _periodic(queue, "dispatch_webhooks", "* * * * * *", dispatch_webhooks)
    _periodic(queue, "apply_retention", "17 * * * *", apply_retention)
    queue.task(name=DELIVER, pass_context=True)(deliver_webhook)


def _periodic(queue: procrastinate.App, name: str, cron: str, job: Callable[..., Awaitable[None]]) -> None:
    """At most one waiting (queueing lock) and one running (lock), whatever the number of workers."""
    task = queue.task(name=f"harbor:{name}", pass_context=True, queueing_lock=name, lock=name)(job)
    queue.periodic(cron=cron, periodic_id=name)(task)


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


async def dispatch_webhooks(context: JobContext, timestamp: int) -> None:
    """Lease the deliveries due and make each attempt a job of its own (one per delivery at a time)."""
    harbor = resources(context)
    due = await harbor.store.lease_due_deliveries(DISPATCH_BATCH, harbor.sender.policy.lease_seconds)
    for delivery_id, attempts in due:
        lock = f"delivery:{delivery_id}"
        with contextlib.suppress(procrastinate.exceptions.AlreadyEnqueued):  # its attempt is waiting already
            await context.app.configure_task(DELIVER, lock=lock, queueing_lock=lock).defer_async(
                delivery_id=delivery_id, attempts=attempts
            )


async def deliver_webhook(context: JobContext, delivery_id: int, attempts: int) -> None:
    harbor = resources(context)
    await deliver(harbor.store, harbor.sender, delivery_id, attempts)
