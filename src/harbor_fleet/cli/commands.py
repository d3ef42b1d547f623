"""What each command does; main.py parses and prints."""

import argparse
import asyncio
import logging
import os
import tempfile
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager

import psycopg
from pydantic import ValidationError

from harbor_fleet.adapters.postgres import database
from harbor_fleet.adapters.postgres.embedded import EmbeddedDatabaseError
from harbor_fleet.adapters.postgres.store import PostgresStore, StoreUnavailable
from harbor_fleet.bootstrap import prepare_database
from harbor_fleet.cli import device_commands, webhook_commands
from harbor_fleet.cli.results import Result
from harbor_fleet.domain.fleet import FleetSettings
from harbor_fleet.domain.times import format_datetime
from harbor_fleet.metrics import MULTIPROC_DIR
from harbor_fleet.service.admin import Admin
from harbor_fleet.settings import Settings, load_settings

WS_MAX_MESSAGE_BYTES = 64 * 1024


class CommandError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def settings_from(args: argparse.Namespace, **flags: object) -> Settings:
    try:
        return load_settings(database_url=args.database_url, data_dir=args.data_dir, **flags)
    except ValidationError as error:
        first = error.errors()[0]
        raise CommandError("invalid_setting", f"{'.'.join(map(str, first['loc']))}: {first['msg']}") from error


def serve(args: argparse.Namespace) -> int:
    import uvicorn

    from harbor_fleet.logs import configure_logging
    from harbor_fleet.web.protocol import GuardedHttpToolsProtocol

    settings = settings_from(args, host=args.host, port=args.port, workers=args.workers)
    # Worker processes read their settings from the environment: hand the flags down that way.
    for name in ("database_url", "data_dir", "host", "port", "workers"):
        value = getattr(settings, name)
        if value is not None:
            os.environ[f"HARBOR_{name.upper()}"] = str(value)
    configure_logging(settings.log_level, settings.access_log)
    if settings.workers > 1 and settings.pubsub == "memory":
        logging.getLogger(__name__).warning(
            "HARBOR_PUBSUB=memory with %d workers: they hear each other only through the periodic resync "
            "(every HARBOR_TRACKER_RESYNC_SECONDS); use postgres or redis",
            settings.workers,
        )
    _allow_open_files(settings.max_connections + 1000)
    with _shared_metrics(settings.workers):
        uvicorn.run(
            "harbor_fleet.web.app:create_app_from_env",
            factory=True,
            host=settings.host,
            port=settings.port,
            workers=settings.workers,
            loop="uvloop",
            http=GuardedHttpToolsProtocol,
            limit_concurrency=settings.max_connections,
            ws="websockets-sansio",
            # Frames are small and the same for every client: compressing them per connection cost a quarter
            # of the server's CPU in the fan-out measurement, for little gain on the wire.
            ws_per_message_deflate=False,
            # Clients have nothing to say on the live stream: a large message is closed with 1009 rather
            # than buffered (uvicorn's default would take 16 MiB per connection).
            ws_max_size=WS_MAX_MESSAGE_BYTES,
            lifespan="on",
            access_log=settings.access_log,
            log_config=None,
            timeout_graceful_shutdown=int(settings.shutdown_timeout),
            server_header=False,
            proxy_headers=True,
            forwarded_allow_ips=settings.forwarded_allow_ips,
        )
    return 0


def worker(args: argparse.Namespace) -> int:
    """The job worker alone (no HTTP), until SIGTERM or SIGINT."""
    from harbor_fleet.jobs.standalone import run_standalone
    from harbor_fleet.logs import configure_logging

    settings = settings_from(args, job_concurrency=args.concurrency)
    configure_logging(settings.log_level)
    try:
        asyncio.run(run_standalone(settings))
    except (psycopg.OperationalError, StoreUnavailable, EmbeddedDatabaseError) as error:
        raise CommandError("database_unavailable", f"database unavailable: {error}".splitlines()[0]) from error
    return 0


@contextmanager
def _shared_metrics(workers: int) -> Iterator[None]:
    """Worker processes share their metrics through files (prometheus_client's multiprocess mode), in a
    directory of this run's own unless PROMETHEUS_MULTIPROC_DIR names one (then it is the operator's to
    empty between runs). Set before the workers start: each reads it when it first imports the client."""
    if workers < 2 or os.environ.get(MULTIPROC_DIR):
        yield
        return
    with tempfile.TemporaryDirectory(prefix="harbor-metrics-") as directory:
        os.environ[MULTIPROC_DIR] = directory
        try:
            yield
        finally:
            del os.environ[MULTIPROC_DIR]


def _allow_open_files(wanted: int) -> None:
    """Raise this process's open-file limit toward `wanted` (connections need a descriptor each)."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


async def run(args: argparse.Namespace) -> Result:
    settings = settings_from(args)
    action = _ACTIONS[(args.command, getattr(args, "action", None))]
    try:
        if args.command == "migrate":
            return await _migrate(await prepare_database(settings, migrate=False))
        url = await prepare_database(settings, migrate=settings.migrate_on_start)
        pool = database.make_pool(url, 1)
        await pool.open(wait=True)
        try:
            given = getattr(args, "public_url", None)
            args.public_url = given or settings.public_url or f"http://{settings.host}:{settings.port}"
            return await action(Admin(PostgresStore(pool), settings.webhook_deny_private), args)
        finally:
            await pool.close()
    except (psycopg.OperationalError, StoreUnavailable, EmbeddedDatabaseError) as error:
        raise CommandError("database_unavailable", f"database unavailable: {error}".splitlines()[0]) from error


async def _migrate(url: str) -> Result:
    from harbor_fleet.adapters.postgres import migrations

    conn = await database.connect(url)
    try:
        applied = await migrations.migrate(conn)
        version = await migrations.current_version(conn)
    finally:
        await conn.close()
    names = [f"{m.version:04d}_{m.name}" for m in applied]
    text = f"schema at version {version}" + (f"; applied {', '.join(names)}" if names else "; nothing to apply")
    return Result({"version": version, "applied": names}, text)


async def _fleet_create(admin: Admin, args: argparse.Namespace) -> Result:
    fleet = await admin.create_fleet(
        FleetSettings(
            args.fleet_id,
            args.name,
            args.offline_after,
            args.retention_days,
            args.max_vehicles,
            args.devices_see_fleet,
        )
    )
    return Result({"fleet_id": fleet.fleet_id}, f"created fleet {fleet.fleet_id}")


async def _key_create(admin: Admin, args: argparse.Namespace) -> Result:
    key = await admin.create_key(args.fleets)
    text = f"key_id: {key.key_id}\nsecret: {key.secret}\n(the secret is shown only this once)"
    return Result({"key_id": key.key_id, "secret": key.secret}, text)


async def _token_create(admin: Admin, args: argparse.Namespace) -> Result:
    token = await admin.create_token(args.fleets)
    text = f"token_id: {token.token_id}\ntoken: {token.token}\n(the token is shown only this once)"
    return Result({"token_id": token.token_id, "token": token.token}, text)


async def _key_rotate(admin: Admin, args: argparse.Namespace) -> Result:
    key = await admin.rotate_key(args.credential_id)
    text = (
        f"key_id: {key.key_id}\nsecret: {key.secret}\n(the secret is shown only this once; "
        f"{args.credential_id} works until you revoke it)"
    )
    return Result({"key_id": key.key_id, "secret": key.secret, "replaces": args.credential_id}, text)


async def _revoke(admin: Admin, args: argparse.Namespace) -> Result:
    revoked_at = format_datetime(await admin.revoke(args.command, args.credential_id))
    text = f"revoked {args.command} {args.credential_id} at {revoked_at}"
    return Result({f"{args.command}_id": args.credential_id, "revoked_at": revoked_at}, text)


async def _list(admin: Admin, args: argparse.Namespace) -> Result:
    listed = await admin.list_credentials(args.command, args.fleet)
    rows = [
        {
            f"{args.command}_id": item.credential_id,
            "fleets": item.fleets,
            "created_at": format_datetime(item.created_at),
            "revoked_at": None if item.revoked_at is None else format_datetime(item.revoked_at),
        }
        for item in listed
    ]
    lines = [
        f"{row[f'{args.command}_id']}  created {row['created_at']}  "
        f"{'revoked ' + str(row['revoked_at']) if row['revoked_at'] else 'active'}  fleets {','.join(item.fleets)}"
        for row, item in zip(rows, listed, strict=True)
    ]
    return Result({f"{args.command}s": rows}, "\n".join(lines) or f"no {args.command}s for fleet {args.fleet}")


async def _none(admin: Admin, args: argparse.Namespace) -> Result:
    raise AssertionError("migrate is handled before")


_ACTIONS: dict[tuple[str, str | None], Callable[[Admin, argparse.Namespace], Awaitable[Result]]] = {
    ("migrate", None): _none,
    ("fleet", "create"): _fleet_create,
    ("key", "create"): _key_create,
    ("token", "create"): _token_create,
    ("key", "rotate"): _key_rotate,
    ("key", "revoke"): _revoke,
    ("token", "revoke"): _revoke,
    ("key", "list"): _list,
    ("token", "list"): _list,
    ("webhook", "create"): webhook_commands.create,
    ("webhook", "list"): webhook_commands.listing,
    ("webhook", "delete"): webhook_commands.delete,
    ("webhook", "deliveries"): webhook_commands.deliveries,
    ("device", "create"): device_commands.create,
    ("device", "list"): device_commands.listing,
    ("device", "revoke"): device_commands.revoke,
}
