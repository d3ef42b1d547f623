"""`harbor-fleet worker`: the job worker as a pool of its own. With the servers' own workers off, the
offline sweep it runs reaches a server's live stream over each shared bus, and SIGTERM stops it cleanly."""

import asyncio
import json
import signal
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import websockets

from conftest import HARBOR, Server, cli_json, harbor_env, ingest
from helpers import eventually, receiving


@pytest.fixture(params=["postgres", "redis"])
def pool_env(request: pytest.FixtureRequest, database_url: str) -> dict[str, str]:
    pubsub = "postgres" if request.param == "postgres" else str(request.getfixturevalue("redis_url"))
    return harbor_env(database_url=database_url, pubsub=pubsub, jobs_in_serve="false", tracker_resync_seconds="3600")


@pytest.fixture
def job_worker(pool_env: dict[str, str], tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    with (tmp_path / "worker.log").open("ab") as log:
        process = subprocess.Popen([*HARBOR, "worker"], env=pool_env, stdout=log, stderr=subprocess.STDOUT)
    yield process
    if process.poll() is None:
        process.kill()
        process.wait(timeout=10)


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# A first fix older than its fleet's threshold when it is stored sets the vehicle offline without an event
# (DESIGN 2.7): the threshold leaves a loaded machine seconds to store the fix before the sweep may turn it.
OFFLINE_AFTER_S = "3"


def test_a_separate_worker_announces_offline_vehicles_and_stops_on_sigterm(
    pool_env: dict[str, str], job_worker: subprocess.Popen[bytes], tmp_path: Path, servers: list[Server]
) -> None:
    cli_json(pool_env, "fleet", "create", "f1", "--offline-after", OFFLINE_AFTER_S)
    key = cli_json(pool_env, "key", "create", "--fleet", "f1")
    token = cli_json(pool_env, "token", "create", "--fleet", "f1")
    server = Server(pool_env, tmp_path / "serve.log").start()
    servers.append(server)

    async def watch() -> dict[str, object]:
        url = f"ws://127.0.0.1:{server.port}/api/v1/fleets/f1/live"
        async with websockets.connect(url, additional_headers={"Authorization": f"Bearer {token['token']}"}) as ws:
            assert json.loads(await ws.recv())["type"] == "snapshot"
            fix = {"vehicle_id": "v1", "lat": 1.0, "lng": 2.0, "recorded_at": now_iso()}
            assert (await asyncio.to_thread(ingest, server.url, "f1", key, [fix])).status_code == 202
            async with asyncio.timeout(20):  # the worker may still be starting; the event comes within seconds
                while (frame := json.loads(await ws.recv()))["type"] != "vehicle_status":
                    pass
            return dict(frame)

    frame = asyncio.run(watch())
    assert (frame["seq"], frame["vehicle_id"], frame["status"]) == (2, "v1", "offline")
    job_worker.send_signal(signal.SIGTERM)
    assert job_worker.wait(timeout=15) == 0
    assert "Traceback" not in (tmp_path / "worker.log").read_text()


def test_webhook_deliveries_wait_in_postgresql_until_a_worker_runs(
    database_url: str, tmp_path: Path, servers: list[Server]
) -> None:
    env = harbor_env(database_url=database_url, jobs_in_serve="false")
    cli_json(env, "fleet", "create", "f1")
    key = cli_json(env, "key", "create", "--fleet", "f1")
    server = Server(env, tmp_path / "serve.log").start()
    servers.append(server)
    with receiving() as receiver:
        webhook = cli_json(env, "webhook", "create", "--fleet", "f1", "--url", receiver.url, "--events", "position")
        sent = [{"vehicle_id": f"v{n}", "lat": 1.0, "lng": 2.0, "recorded_at": now_iso()} for n in range(3)]
        assert ingest(server.url, "f1", key, sent).status_code == 202
        pending = cli_json(env, "webhook", "deliveries", "--fleet", "f1", "--status", "pending")["deliveries"]
        assert len(pending) == 3 and receiver.received == []  # no worker anywhere: they wait
        with (tmp_path / "worker.log").open("ab") as log:
            worker = subprocess.Popen([*HARBOR, "worker"], env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            eventually(lambda: len(receiver.received) == 3, timeout=30)
        finally:
            worker.send_signal(signal.SIGTERM)
            worker.wait(timeout=15)
    assert sorted(body["vehicle_id"] for body in receiver.bodies()) == ["v0", "v1", "v2"]
    delivered = cli_json(env, "webhook", "deliveries", "--fleet", "f1", "--status", "delivered")["deliveries"]
    assert len(delivered) == 3 and {d["webhook_id"] for d in delivered} == {webhook["webhook_id"]}
