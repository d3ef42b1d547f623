"""What tests share: a running app over a real database, signed requests, times."""

import asyncio
import gc
import json
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import psycopg
from starlette.testclient import TestClient

from harbor_fleet.bootstrap import Application
from harbor_fleet.domain.fleet import FleetSettings
from harbor_fleet.domain.signing import sign
from harbor_fleet.jobs.queue import make_queue
from harbor_fleet.service.admin import IssuedKey, IssuedToken
from harbor_fleet.settings import Settings
from harbor_fleet.web.app import create_app


def iso(seconds_ago: float = 0.0) -> str:
    """An RFC 3339 time `seconds_ago` before now, UTC with six fractional digits."""
    moment = datetime.now(UTC) - timedelta(seconds=seconds_ago)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def fix(vehicle_id: str = "v1", seconds_ago: float = 1.0, lat: float = 52.5, lng: float = 13.4, **extra: Any) -> dict:
    return {"vehicle_id": vehicle_id, "lat": lat, "lng": lng, "recorded_at": iso(seconds_ago), **extra}


def signed_headers(key: IssuedKey, body: bytes, timestamp: str | None = None) -> dict[str, str]:
    ts = str(int(time.time())) if timestamp is None else timestamp
    return {
        "content-type": "application/json",
        "x-harbor-key": key.key_id,
        "x-harbor-timestamp": ts,
        "x-harbor-signature": "v1=" + sign(key.secret.encode(), ts, body),
    }


def encode(body: object) -> bytes:
    return body if isinstance(body, bytes) else json.dumps(body).encode()


@dataclass
class Harbor:
    """A running Harbor Fleet app (in this process) and the database behind it."""

    client: TestClient
    database_url: str

    @property
    def application(self) -> Application:
        application = self.client.app.state.api.app  # type: ignore[union-attr]
        assert application is not None
        return application

    def call(self, function: Any, *args: Any) -> Any:
        """Run an async function on the app's event loop."""
        return self.client.portal.call(function, *args)  # type: ignore[union-attr]

    def create_fleet(self, fleet_id: str = "f1", **options: Any) -> FleetSettings:
        return self.call(self.application.admin.create_fleet, FleetSettings(fleet_id, **options))

    def create_key(self, *fleet_ids: str) -> IssuedKey:
        return self.call(self.application.admin.create_key, list(fleet_ids))

    def create_token(self, *fleet_ids: str) -> IssuedToken:
        return self.call(self.application.admin.create_token, list(fleet_ids))

    def ingest(self, fleet_id: str, key: IssuedKey, body: object, **headers: str) -> Any:
        raw = encode(body)
        return self.client.post(
            f"/api/v1/fleets/{fleet_id}/positions", content=raw, headers={**signed_headers(key, raw), **headers}
        )

    def status(self, fleet_id: str, token: IssuedToken) -> Any:
        return self.client.get(f"/api/v1/fleets/{fleet_id}/status", headers=bearer(token))

    def sql(self, query: str, *params: Any) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.database_url, autocommit=True) as conn:
            cursor = conn.execute(query.encode(), params or None)
            return cursor.fetchall() if cursor.description else []


def bearer(token: IssuedToken) -> dict[str, str]:
    return {"authorization": f"Bearer {token.token}"}


def settings_for(database_url: str, **overrides: Any) -> Settings:
    return Settings(database_url=database_url, **overrides)


@contextmanager
def running_harbor(database_url: str, **overrides: Any) -> Iterator[Harbor]:
    app = create_app(settings_for(database_url, **overrides))
    watchdog: threading.Timer | None = None
    try:
        with TestClient(app, raise_server_exceptions=False) as client:
            yield Harbor(client, database_url)
            loop = client.portal.call(asyncio.get_running_loop)  # type: ignore[union-attr]
            watchdog = threading.Timer(STOP_REPORT_AFTER_S, _report_pending_tasks, [loop])
            watchdog.start()  # the application's stop should take a second or two
    finally:
        if watchdog is not None:
            watchdog.cancel()


STOP_REPORT_AFTER_S = 30.0


def _report_pending_tasks(loop: asyncio.AbstractEventLoop) -> None:
    """A stop that hangs says which of its loop's tasks it waits on (pytest-timeout shows only threads).
    Tasks are found through the collector: `asyncio.all_tasks` may not be called from another thread."""
    tasks = [obj for obj in gc.get_objects() if isinstance(obj, asyncio.Task) and obj.get_loop() is loop]
    for task in [task for task in tasks if not task.done()]:
        print(f"pending at stop: {task!r}", file=sys.stderr, flush=True)
        task.print_stack(limit=15, file=sys.stderr)


def defer_job(database_url: str, task_name: str, **arguments: Any) -> None:
    """Put a job on the queue from outside, as an operator's tool would (the service's own worker may still
    be opening its connections)."""

    async def defer() -> None:
        queue = make_queue(database_url)
        async with queue.open_async():
            await queue.configure_task(task_name).defer_async(**arguments)

    asyncio.run(defer())


def eventually(predicate: Any, timeout: float = 5.0, interval: float = 0.01) -> None:
    """Wait until `predicate()` is true, failing after `timeout` seconds (a deadline, not a sleep)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s: {predicate}")
        time.sleep(interval)  # polling a condition under a deadline


@dataclass
class Receiver:
    """Answers with the statuses queued in `answers` (then 200); holds requests while `hold` is clear."""

    answers: list[int] = field(default_factory=list)
    hold: threading.Event = field(default_factory=threading.Event)
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    url: str = ""

    def __post_init__(self) -> None:
        self.hold.set()

    def bodies(self) -> list[dict[str, object]]:
        return [json.loads(body) for _, body in self.received]


@contextmanager
def receiving() -> Iterator[Receiver]:
    """A webhook receiver on this machine (a real HTTP server in a thread)."""
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["content-length"]))
            state.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
            state.hold.wait(timeout=30)
            self.send_response(state.answers.pop(0) if state.answers else 200)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    state.hold.set()
    server.shutdown()
    server.server_close()
