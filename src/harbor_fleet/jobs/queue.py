"""The job queue: procrastinate on the service's own PostgreSQL (its schema is migration 0005), so jobs
survive restarts and need nothing else to run. Every `serve` process runs a worker by default
(HARBOR_JOBS_IN_SERVE); `harbor-fleet worker` runs one alone, for a separate pool."""

import asyncio
import logging

import procrastinate
from procrastinate.psycopg_connector import PsycopgConnector

from harbor_fleet.adapters.postgres.database import CONNECT_TIMEOUT
from harbor_fleet.adapters.postgres.migrations import REQUIRED_VERSION
from harbor_fleet.jobs import tasks
from harbor_fleet.jobs.tasks import CONTEXT_KEY, JobResources

log = logging.getLogger(__name__)


def make_queue(url: str, pool_size: int) -> procrastinate.App:
    connector = PsycopgConnector(
        conninfo=url, min_size=1, max_size=pool_size, kwargs={"connect_timeout": CONNECT_TIMEOUT}
    )
    queue = procrastinate.App(connector=connector)
    tasks.register(queue)
    return queue


SCHEMA_CHECK_SECONDS = 2.0


async def run_worker(
    queue: procrastinate.App, harbor: JobResources, concurrency: int, name: str, graceful_stop: float
) -> None:
    """Take and run jobs until cancelled; jobs running then get `graceful_stop` seconds to finish. With the
    schema older than the code (`HARBOR_MIGRATE_ON_START=false` before `migrate` ran) it waits for it."""
    await _schema_ready(harbor)
    async with queue.open_async():
        await queue.run_worker_async(
            name=name,
            concurrency=concurrency,
            install_signal_handlers=False,  # the service's own shutdown stops the worker
            delete_jobs="successful",  # a job that succeeded leaves nothing behind; failures stay to inspect
            additional_context={CONTEXT_KEY: harbor},
            fetch_job_polling_interval=1.0,  # LISTEN/NOTIFY wakes it at once; polling is the safety net
            shutdown_graceful_timeout=graceful_stop,
        )


async def _schema_ready(harbor: JobResources) -> None:
    waiting = False
    while (version := await harbor.store.schema_version()) < REQUIRED_VERSION:
        if not waiting:
            log.warning("jobs wait for the schema", extra={"version": version, "required": REQUIRED_VERSION})
            waiting = True
        await asyncio.sleep(SCHEMA_CHECK_SECONDS)
