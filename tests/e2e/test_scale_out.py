"""Several real `serve` processes on one database behave as one service, over each shared bus: a fix
ingested on either is in the other's status and live stream (with the periodic resync switched off, only
the bus can carry it), seq stays gap-free across processes, a process killed with SIGKILL mid-stream is
resumed elsewhere with `since`, and Redis restarting under load loses nothing."""

import asyncio
import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import psutil
import psycopg
import pytest
import websockets

from conftest import Server, cli_json, free_port, harbor_env, ingest, signed
from helpers import eventually

NO_RESYNC = "3600"


def fixes(vehicle_id: str, count: int = 1, seconds_ago: float = 5.0) -> list[dict[str, object]]:
    base = time.time() - seconds_ago
    return [
        {
            "vehicle_id": vehicle_id,
            "lat": 1.0,
            "lng": 2.0,
            "recorded_at": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(base)) + f".{i:06d}Z",
        }
        for i in range(count)
    ]


class Fleet:
    """Two servers on one database and the fleet's credentials."""

    def __init__(self, env: dict[str, str], tmp_path: Path, servers: list[Server]) -> None:
        cli_json(env, "fleet", "create", "f1")
        self.key = cli_json(env, "key", "create", "--fleet", "f1")
        self.token = cli_json(env, "token", "create", "--fleet", "f1")
        self.env = env
        self.a = Server(env, tmp_path / "a.log").start()
        self.b = Server(env, tmp_path / "b.log").start()
        servers.extend([self.a, self.b])

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token['token']}"}

    def live(self, server: Server, since: int | None = None) -> str:
        return f"ws://127.0.0.1:{server.port}/api/v1/fleets/f1/live" + ("" if since is None else f"?since={since}")

    def status(self, server: Server) -> dict[str, Any]:
        return dict(httpx2.get(f"{server.url}/api/v1/fleets/f1/status", headers=self.auth).json())

    def post(self, server: Server, vehicle_id: str, count: int = 1) -> None:
        response = ingest(server.url, "f1", self.key, fixes(vehicle_id, count))
        assert response.status_code == 202, response.text


async def frames(ws: websockets.ClientConnection, count: int, timeout: float = 15) -> list[dict[str, Any]]:
    received = []
    async with asyncio.timeout(timeout):
        while len(received) < count:
            frame = json.loads(await ws.recv())
            if frame["type"] == "position":
                received.append(frame)
    return received


@pytest.fixture(params=["postgres", "redis"])
def bus_env(request: pytest.FixtureRequest, database_url: str) -> dict[str, str]:
    pubsub = "postgres" if request.param == "postgres" else str(request.getfixturevalue("redis_url"))
    return harbor_env(database_url=database_url, pubsub=pubsub, tracker_resync_seconds=NO_RESYNC)


def test_two_processes_are_one_service(bus_env: dict[str, str], tmp_path: Path, servers: list[Server]) -> None:
    fleet = Fleet(bus_env, tmp_path, servers)
    assert fleet.status(fleet.b)["vehicles"] == []

    async def watch_b_while_both_ingest() -> list[int]:
        async with websockets.connect(fleet.live(fleet.b), additional_headers=fleet.auth) as ws:
            assert json.loads(await ws.recv())["type"] == "snapshot"
            for n in range(10):
                await asyncio.to_thread(fleet.post, fleet.a if n % 2 == 0 else fleet.b, f"v{n}")
            return [frame["seq"] for frame in await frames(ws, 10)]

    assert asyncio.run(watch_b_while_both_ingest()) == list(range(1, 11))  # gap-free, once each, in order
    for server in (fleet.a, fleet.b):  # both replicas hold every vehicle
        eventually(lambda server=server: fleet.status(server)["seq"] == 10)
        assert len(fleet.status(server)["vehicles"]) == 10


def test_a_client_of_a_killed_process_resumes_on_the_other_with_since(
    bus_env: dict[str, str], tmp_path: Path, servers: list[Server]
) -> None:
    fleet = Fleet(bus_env, tmp_path, servers)

    async def until_killed() -> int:
        async with websockets.connect(fleet.live(fleet.b), additional_headers=fleet.auth) as ws:
            await ws.recv()  # the snapshot
            for n in range(5):
                await asyncio.to_thread(fleet.post, fleet.a, f"before-{n}")
            last = (await frames(ws, 5))[-1]["seq"]
            fleet.b.kill()  # SIGKILL, mid-stream: no close frame
            with pytest.raises(websockets.ConnectionClosed):
                await frames(ws, 1)
            return int(last)

    last = asyncio.run(until_killed())
    for n in range(5):  # committed while the client is away
        fleet.post(fleet.a, f"after-{n}")

    async def resume_on_a() -> list[int]:
        async with websockets.connect(fleet.live(fleet.a, since=last), additional_headers=fleet.auth) as ws:
            return [frame["seq"] for frame in await frames(ws, 5)]

    assert asyncio.run(resume_on_a()) == list(range(last + 1, last + 6))
    restarted = Server(bus_env, tmp_path / "b2.log", port=fleet.b.port).start()
    servers.append(restarted)
    assert fleet.status(restarted)["seq"] == 10 and len(fleet.status(restarted)["vehicles"]) == 10


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator["RedisProcess"]:
    if shutil.which("redis-server") is None:
        if os.environ.get("HARBOR_REQUIRE_SERVICES") == "1":
            pytest.fail("HARBOR_REQUIRE_SERVICES=1 but redis-server (Debian's redis-server) is not installed")
        pytest.skip("redis-server is not installed")
    server = RedisProcess(tmp_path)
    server.start()
    yield server
    server.stop()


class RedisProcess:
    """A Redis of this test's own, to stop and start under load."""

    def __init__(self, folder: Path) -> None:
        self.port = free_port()
        self.folder = folder
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        command = ["redis-server", "--port", str(self.port), "--save", "", "--appendonly", "no"]
        self.process = subprocess.Popen(command, cwd=self.folder, stdout=subprocess.DEVNULL)
        eventually(self._answers, timeout=10)

    def _answers(self) -> bool:
        import redis

        try:
            return bool(redis.Redis(port=self.port, socket_connect_timeout=0.2).ping())
        except redis.RedisError:
            return False

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)


def test_redis_restarting_under_load_loses_nothing(
    database_url: str, private_redis: RedisProcess, tmp_path: Path, servers: list[Server]
) -> None:
    env = harbor_env(database_url=database_url, pubsub=private_redis.url, tracker_resync_seconds=NO_RESYNC)
    fleet = Fleet(env, tmp_path, servers)
    ready_bus = lambda: httpx2.get(f"{fleet.b.url}/ready").json().get("error", {}).get("checks", {}).get("bus")  # noqa: E731

    async def stream_through_an_outage() -> list[int]:
        async with websockets.connect(fleet.live(fleet.b), additional_headers=fleet.auth) as ws:
            await ws.recv()  # the snapshot
            for n in range(5):
                await asyncio.to_thread(fleet.post, fleet.a, f"before-{n}")
            private_redis.stop()
            await asyncio.to_thread(eventually, lambda: ready_bus() == "disconnected", 15)
            for n in range(5):  # the bus is down: ingest goes on all the same
                await asyncio.to_thread(fleet.post, fleet.a, f"during-{n}")
            private_redis.start()
            await asyncio.to_thread(eventually, lambda: ready_bus() is None, 15)  # /ready is 200 again
            for n in range(5):
                await asyncio.to_thread(fleet.post, fleet.a, f"after-{n}")
            return [frame["seq"] for frame in await frames(ws, 15, timeout=30)]

    assert asyncio.run(stream_through_an_outage()) == list(range(1, 16))  # nothing missed, nothing twice
    eventually(lambda: fleet.status(fleet.b)["seq"] == 15, timeout=15)


def test_serve_with_two_workers_is_one_service(database_url: str, tmp_path: Path, servers: list[Server]) -> None:
    env = harbor_env(database_url=database_url, workers="2", tracker_resync_seconds=NO_RESYNC)
    cli_json(env, "fleet", "create", "f1")
    key = cli_json(env, "key", "create", "--fleet", "f1")
    token = cli_json(env, "token", "create", "--fleet", "f1")
    server = Server(env, tmp_path / "workers.log").start()
    servers.append(server)
    auth = {"Authorization": f"Bearer {token['token']}"}
    assert server.process is not None
    eventually(lambda: len(psutil.Process(server.process.pid).children()) >= 2, timeout=30)  # two workers

    def seqs_seen() -> set[int]:  # each request a new connection: the kernel spreads them over the workers
        return {httpx2.get(f"{server.url}/api/v1/fleets/f1/status", headers=auth).json()["seq"] for _ in range(10)}

    assert seqs_seen() == {0}
    for n in range(20):
        assert ingest(server.url, "f1", key, fixes(f"v{n}")).status_code == 202
    eventually(lambda: seqs_seen() == {20}, timeout=15)  # every worker's replica, by the bus alone


def test_a_rolling_restart_drains_and_clients_resume_elsewhere(
    database_url: str, tmp_path: Path, servers: list[Server]
) -> None:
    env = harbor_env(database_url=database_url, tracker_resync_seconds=NO_RESYNC)
    fleet = Fleet(env, tmp_path, servers)
    stop = asyncio.Event()

    async def ingest_on_b_until_stopped() -> list[int]:
        """Ingest on the process being restarted: every request either gets its 202 or never got in."""
        answers = []  # the status of request n (its fix is vehicle b{n}) at answers[n - 1]
        async with httpx2.AsyncClient(base_url=fleet.b.url) as http:
            n = 0
            while not stop.is_set():
                n += 1
                body = json.dumps({"fixes": fixes(f"b{n}")}).encode()
                try:
                    response = await http.post(
                        "/api/v1/fleets/f1/positions", content=body, headers=signed(fleet.key, body)
                    )
                except httpx2.TransportError:
                    break  # refused: the listening socket is closed
                answers.append(response.status_code)
        return answers

    async def restart_b() -> tuple[int | None, int, list[int]]:
        async with websockets.connect(fleet.live(fleet.b), additional_headers=fleet.auth) as ws:
            await ws.recv()  # the snapshot
            sending = asyncio.create_task(ingest_on_b_until_stopped())
            last = (await frames(ws, 5))[-1]["seq"]
            fleet.b.process.terminate()  # type: ignore[union-attr]  # SIGTERM: drain
            with pytest.raises(websockets.ConnectionClosed) as closed:
                while True:
                    frame = json.loads(await ws.recv())
                    last = frame.get("seq", last)
            stop.set()
            answers = await sending
        return (closed.value.rcvd.code if closed.value.rcvd else None), int(last), answers

    code, last, answers = asyncio.run(restart_b())
    assert code in (1001, 1012)  # a close frame, never a dropped connection
    assert answers and set(answers) == {202}  # in-flight requests finished; nothing half-answered
    assert fleet.b.process.wait(timeout=20) is not None  # type: ignore[union-attr]
    total = fleet.status(fleet.a)["seq"]
    assert total >= len(answers)
    with psycopg.connect(database_url) as conn:
        stored = {str(row[0]) for row in conn.execute("SELECT vehicle_id FROM fixes WHERE fleet_id = 'f1'")}
    assert {f"b{n}" for n in range(1, len(answers) + 1)} <= stored  # every acknowledged fix survived the stop

    async def resume_on_a() -> list[int]:
        async with websockets.connect(fleet.live(fleet.a, since=last), additional_headers=fleet.auth) as ws:
            return [frame["seq"] for frame in await frames(ws, total - last)] if total > last else []

    assert asyncio.run(resume_on_a()) == list(range(last + 1, total + 1))  # nothing missed
