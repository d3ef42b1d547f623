"""The job queue: procrastinate on the service's own PostgreSQL (its schema is migration 0005), so jobs
survive restarts and need nothing else to run. Every `serve` process runs a worker by default
(HARBOR_JOBS_IN_SERVE); `harbor-fleet worker` runs one alone, for a separate pool."""

import asyncio
import logging
from dataclasses import dataclass

import procrastinate
from procrastinate.psycopg_connector import PsycopgConnector

from harbor_fleet.adapters.postgres import database
from harbor_fleet.adapters.postgres.migrations import REQUIRED_VERSION
from harbor_fleet.jobs import tasks
from harbor_fleet.jobs.tasks import CONTEXT_KEY, JobResources

log = logging.getLogger(__name__)

SCHEMA_CHECK_SECONDS = 2.0


@dataclass(frozen=True, slots=True)
class WorkerPlan:
    url: str
    pool_size: int  # the worker's own connections
    concurrency: int  # jobs at once
    name: str
    graceful_stop: float  # seconds running jobs get to finish when the worker is stopped


def make_queue(url: str) -> procrastinate.App:
    """The queue with Harbor's jobs on it. Its connections come from a pool each worker run opens (and
    closes, whatever happens: see run_worker), not from the connector."""
    queue = procrastinate.App(connector=PsycopgConnector(conninfo=url))
    tasks.register(queue)
    return queue


async def run_worker(queue: procrastinate.App, harbor: JobResources, plan: WorkerPlan) -> None:
    """Take and run jobs until cancelled. With the schema older than the code (`HARBOR_MIGRATE_ON_START=false`
    before `migrate` ran) it waits for it first."""
    # The pool is opened and closed here rather than by procrastinate: a stop that lands while its
    # connections are being made would otherwise leave the pool's own tasks running (a cancelled connection
    # attempt is logged and swallowed by them), and the event loop could never finish.
    pool = database.make_pool(plan.url, plan.pool_size, name="harbor-jobs", autocommit=False)
    try:
        await _schema_ready(harbor)
        await pool.open(wait=True)
        async with queue.open_async(pool=pool):
            await queue.run_worker_async(
                name=plan.name,
                concurrency=plan.concurrency,
                install_signal_handlers=False,  # the service's own shutdown stops the worker
                delete_jobs="successful",  # a job that succeeded leaves nothing behind; failures stay to inspect
                additional_context={CONTEXT_KEY: harbor},
                fetch_job_polling_interval=1.0,  # LISTEN/NOTIFY wakes it at once; polling is the safety net
                shutdown_graceful_timeout=plan.graceful_stop,
            )
    finally:
        await pool.close()
        await harbor.sender.aclose()


async def _schema_ready(harbor: JobResources) -> None:
    waiting = False
    while (version := await harbor.store.schema_version()) < REQUIRED_VERSION:
        if not waiting:
            log.warning("jobs wait for the schema", extra={"version": version, "required": REQUIRED_VERSION})
            waiting = True
        await asyncio.sleep(SCHEMA_CHECK_SECONDS)
