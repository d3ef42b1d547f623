"""The composition root: builds the application tree from settings, starts it in order and stops it
in reverse (database → schema → pool → trackers → writer → service; the web server sits on top)."""

import asyncio
import gc
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial

import procrastinate

from harbor_fleet.adapters.bus.base import Bus, fleet_topic
from harbor_fleet.adapters.bus.memory import MemoryBus
from harbor_fleet.adapters.bus.postgres import CHANNEL, PostgresBus
from harbor_fleet.adapters.bus.redis import RedisBus
from harbor_fleet.adapters.postgres import database, embedded, migrations
from harbor_fleet.adapters.postgres.store import Pool, PostgresStore, StoreUnavailable
from harbor_fleet.adapters.postgres.writer import NO_NOTIFY, GroupCommitWriter, Notify
from harbor_fleet.domain.events import Committed
from harbor_fleet.domain.fixes import Fix
from harbor_fleet.domain.rate_limit import RateLimiter
from harbor_fleet.jobs.queue import WorkerPlan, make_queue, run_worker
from harbor_fleet.jobs.tasks import JobResources
from harbor_fleet.jobs.webhooks import Sender, webhook_policy
from harbor_fleet.runtime.live import LiveSessions
from harbor_fleet.runtime.sampler import sample_forever
from harbor_fleet.runtime.supervisor import ChildTarget, RestartPolicy, Started, Supervisor
from harbor_fleet.runtime.tracker import Loader, SourceUnavailable
from harbor_fleet.runtime.trackers import Trackers
from harbor_fleet.service.admin import Admin
from harbor_fleet.service.credentials import Credentials
from harbor_fleet.service.devices import DeviceReports
from harbor_fleet.service.feed import feed
from harbor_fleet.service.fleet_service import FleetService
from harbor_fleet.service.frames import encode_batch
from harbor_fleet.service.live import LiveService
from harbor_fleet.settings import Settings

log = logging.getLogger(__name__)


async def prepare_database(settings: Settings, migrate: bool) -> str:
    """The database URL (starting the embedded server if need be), with the schema migrated if asked."""
    url = await asyncio.to_thread(database.resolve_url, settings)
    if migrate:
        conn = await database.connect(url)
        try:
            applied = await migrations.migrate(conn)
        finally:
            await conn.close()
        for migration in applied:
            log.info("migration applied", extra={"version": migration.version, "migration": migration.name})
    return url


@dataclass
class Application:
    settings: Settings
    url: str
    pool: Pool
    store: PostgresStore
    trackers: Trackers
    writer: GroupCommitWriter
    service: FleetService
    live: LiveService
    live_sessions: LiveSessions
    admin: Admin
    devices: DeviceReports
    services: Supervisor
    bus: Bus
    queue: procrastinate.App | None  # the job queue, when this process runs a worker

    @classmethod
    async def start(cls, settings: Settings) -> "Application":
        url = await prepare_database(settings, migrate=settings.migrate_on_start)
        pool = database.make_pool(url, settings.db_pool_size)
        await pool.open(wait=True)
        store = PostgresStore(pool)
        policy = RestartPolicy(
            settings.tracker_max_restarts, settings.tracker_restart_window, settings.tracker_park_seconds
        )
        limiter = RateLimiter(settings.rate_limit_per_second, settings.rate_limit_burst)
        credentials = Credentials(store, settings.credential_cache_seconds, limiter)
        trackers = Trackers(_loader(store), policy, settings.tracker_mailbox_size)
        sessions = LiveSessions(settings.live_max_backlog, settings.live_max_per_token)
        origin = secrets.token_hex(8)  # this process, on the bus
        bus = _make_bus(settings, url, origin, store, lambda fleet_id: _holds(trackers, sessions, fleet_id))
        await bus.start()
        notify = Notify(CHANNEL, origin) if isinstance(bus, PostgresBus) else NO_NOTIFY
        announce = _publisher(trackers, bus)
        writer = GroupCommitWriter(
            url,
            max_batch_fixes=settings.writer_max_batch_fixes,
            max_pending_fixes=settings.writer_max_pending_fixes,
            on_commit=announce,
            on_uncertain=trackers.uncertain,
            notify=notify,
        )
        services = Supervisor("services", RestartPolicy(max_restarts=10, window=10.0, park_seconds=1.0))
        services.start_child("bus", _started_then(bus.run))
        services.start_child("writer", _started_then(writer.run))
        services.start_child("bus-feed", _started_then(partial(feed, bus, trackers, sessions)))
        resync = partial(
            trackers.resync_forever, _seqs_or_none(store), settings.tracker_resync_seconds, sessions.catch_up
        )
        services.start_child("tracker-resync", _started_then(resync))
        services.start_child("metrics", _started_then(partial(sample_forever, trackers, sessions)))
        queue = make_queue(url) if settings.jobs_in_serve else None
        if queue is not None:
            harbor = JobResources(store, notify, announce, Sender(webhook_policy(settings)))
            plan = WorkerPlan(
                url, settings.job_pool_size, settings.job_concurrency, f"serve-{origin}", settings.shutdown_timeout / 2
            )
            jobs = partial(run_worker, queue, harbor, plan)
            services.start_child("jobs", _started_then(jobs))
        service = FleetService(store, writer, trackers, credentials)
        devices = DeviceReports(service, credentials, store)
        live = LiveService(service, store, sessions)
        # What start-up allocated lives as long as the process: keep it out of the collector's full
        # passes, which otherwise walk it all and stall every request for milliseconds.
        gc.collect()
        gc.freeze()
        # Collect young objects every 100k allocations rather than 700, and the old generations far more
        # rarely: with 1,000 live sessions the default thresholds' passes made the fix→frame p99 81 ms;
        # these make it 26 ms (bench/live.py), and the HTTP figures do not suffer.
        gc.set_threshold(100_000, 50, 1000)
        return cls(
            settings,
            url,
            pool,
            store,
            trackers,
            writer,
            service,
            live,
            sessions,
            Admin(store, settings.webhook_deny_private),
            devices,
            services,
            bus,
            queue,
        )

    async def stop(self) -> None:
        """Reverse order: flush the writer, stop trackers, close the pool."""
        self.writer.close()
        try:
            async with asyncio.timeout(self.settings.shutdown_timeout):
                await self.services.wait_stopped("writer")
        except TimeoutError:
            log.error("writer did not drain in time")
        await self.services.aclose(timeout=self.settings.shutdown_timeout)
        await self.bus.stop()
        await self.trackers.aclose()
        await self.pool.close()
        if self.settings.database_url is None:
            await asyncio.to_thread(embedded.release, self.settings.data_dir)


def _loader(store: PostgresStore) -> Loader:
    async def load(fleet_id: str) -> tuple[int, list[Fix]]:
        try:
            snapshot = await store.load_fleet(fleet_id)
        except StoreUnavailable as error:
            raise SourceUnavailable(str(error)) from error
        return snapshot.seq, snapshot.positions

    return load


def _make_bus(settings: Settings, url: str, origin: str, store: PostgresStore, wanted: Callable[[str], bool]) -> Bus:
    if settings.pubsub == "memory":
        return MemoryBus()
    if settings.pubsub == "postgres":

        async def fetch(fleet_id: str, after: int, upto: int) -> bytes | None:
            events = await store.events(fleet_id, after, upto)
            return encode_batch(events) if events else None

        return PostgresBus(url, origin, fetch, encode_batch, wanted)
    return RedisBus(settings.pubsub, origin, namespace=database.database_name(url))


def _holds(trackers: Trackers, sessions: LiveSessions, fleet_id: str) -> bool:
    """Whether this process keeps the fleet in memory (a tracker) or streams it (live sessions)."""
    return trackers.running(fleet_id) is not None or sessions.watching(fleet_id)


def _publisher(trackers: Trackers, bus: Bus) -> Callable[[str, Committed], Awaitable[None]]:
    """What the writer (and the offline sweep) does after each commit, before it answers: note the seq,
    publish the events."""

    async def committed(fleet_id: str, events: Committed) -> None:
        trackers.note_committed(fleet_id, events[-1][0])
        await bus.publish(fleet_topic(fleet_id), encode_batch(events))

    return committed


def _seqs_or_none(store: PostgresStore) -> Callable[[list[str]], Awaitable[dict[str, int]]]:
    """Committed seqs, or none while the database is unreachable (the next period tries again)."""

    async def committed_seqs(fleet_ids: list[str]) -> dict[str, int]:
        try:
            return await store.committed_seqs(fleet_ids)
        except StoreUnavailable:
            return {}

    return committed_seqs


def _started_then(run: Callable[[], Awaitable[None]]) -> ChildTarget:
    """A child that is ready as soon as it runs."""

    async def child(started: Started) -> None:
        started()
        await run()

    return child
