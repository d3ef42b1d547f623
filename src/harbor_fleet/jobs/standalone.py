"""`harbor-fleet worker`: the job worker without the HTTP service, for a pool of its own (then serve with
HARBOR_JOBS_IN_SERVE=false, or keep both). What its jobs commit reaches the serving processes through the
bus: PostgreSQL's notifications go out with the commit itself; with Redis this process publishes too; with
the in-process bus the servers see it at their next resync."""

import asyncio
import logging
import secrets
import signal

from harbor_fleet.adapters.bus.base import Bus, fleet_topic
from harbor_fleet.adapters.bus.postgres import CHANNEL
from harbor_fleet.adapters.bus.redis import RedisBus
from harbor_fleet.adapters.postgres import database
from harbor_fleet.adapters.postgres.batch_store import NO_NOTIFY, Notify
from harbor_fleet.adapters.postgres.store import PostgresStore
from harbor_fleet.bootstrap import prepare_database
from harbor_fleet.domain.events import Committed
from harbor_fleet.jobs.queue import WorkerPlan, make_queue, run_worker
from harbor_fleet.jobs.tasks import JobResources, OnCommit
from harbor_fleet.jobs.webhooks import Sender, webhook_policy
from harbor_fleet.service.frames import encode_batch
from harbor_fleet.settings import Settings

log = logging.getLogger(__name__)


async def run_standalone(settings: Settings) -> None:
    """Run jobs until SIGTERM or SIGINT, then let running jobs finish within the shutdown timeout."""
    url = await prepare_database(settings, migrate=settings.migrate_on_start)
    pool = database.make_pool(url, 2)
    await pool.open(wait=True)
    origin = secrets.token_hex(8)
    # It only publishes: nothing here consumes what the serving processes commit.
    bus = RedisBus(settings.pubsub, origin, database.database_name(url), listen=False) if _redis(settings) else None
    notify = Notify(CHANNEL, origin) if settings.pubsub == "postgres" else NO_NOTIFY
    harbor = JobResources(PostgresStore(pool), notify, _announcer(bus), Sender(webhook_policy(settings)))
    queue = make_queue(url)
    plan = WorkerPlan(
        url, settings.job_pool_size, settings.job_concurrency, f"worker-{origin}", settings.shutdown_timeout
    )
    worker = asyncio.current_task()
    assert worker is not None
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, worker.cancel)
    log.info("job worker started", extra={"concurrency": settings.job_concurrency, "pubsub": settings.pubsub})
    try:
        async with asyncio.TaskGroup() as group:
            if bus is not None:
                await bus.start()
                group.create_task(bus.run())
            await run_worker(queue, harbor, plan)
    except asyncio.CancelledError:
        log.info("job worker stopped")
    finally:
        if bus is not None:
            await bus.stop()
        await pool.close()


def _redis(settings: Settings) -> bool:
    return settings.pubsub not in ("memory", "postgres")


def _announcer(bus: Bus | None) -> OnCommit:
    async def announce(fleet_id: str, events: Committed) -> None:
        if bus is not None:
            await bus.publish(fleet_topic(fleet_id), encode_batch(events))

    return announce
