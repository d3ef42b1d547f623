"""PostgreSQL crashes under load and comes back: while it is down ingest answers 503 with Retry-After
(never 500, never a 202 for what was not committed), /ready says why, status keeps answering from memory;
when it returns the server recovers by itself, and every acknowledged fix is stored exactly once with
one event each and seq gap-free."""

import asyncio
import inspect
import json
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import httpx2
import psycopg
import pytest
from private_postgres import PrivatePostgres

from conftest import Server, cli_json, harbor_env, signed

CLIENTS = 8


@pytest.fixture
def postgres(tmp_path: Path) -> Iterator[PrivatePostgres]:
    server = PrivatePostgres(tmp_path)
    yield server
    server.close()


class Load:
    """Clients that send one new fix per request and, like a real partner, resend it until it is
    acknowledged; every answer's status is counted."""

    def __init__(self, url: str, key: dict[str, str]) -> None:
        self.url = url
        self.key = key
        self.answers: Counter[int] = Counter()
        self.acknowledged: list[tuple[str, str]] = []
        self.retry_after: set[str] = set()
        self.stopping = False

    async def client(self, number: int) -> None:
        base = time.time() - 30
        async with httpx2.AsyncClient(base_url=self.url, timeout=30) as http:
            for sent in range(1_000_000):
                if self.stopping:
                    return
                recorded_at = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(base)) + f".{sent:06d}Z"
                await self._until_acknowledged(http, f"c{number}", recorded_at)

    async def _until_acknowledged(self, http: httpx2.AsyncClient, vehicle_id: str, recorded_at: str) -> None:
        body = json.dumps({"fixes": [{"vehicle_id": vehicle_id, "lat": 1.0, "lng": 2.0, "recorded_at": recorded_at}]})
        while True:
            response = await http.post(
                "/api/v1/fleets/f1/positions", content=body.encode(), headers=signed(self.key, body.encode())
            )
            self.answers[response.status_code] += 1
            if response.status_code == 202:
                self.acknowledged.append((vehicle_id, recorded_at))
                return
            assert response.status_code == 503, response.text
            assert response.json()["error"]["code"] in ("unavailable", "overloaded")
            self.retry_after.add(response.headers["retry-after"])
            await asyncio.sleep(0.05)  # a partner's pause before resending, not synchronisation


async def until(predicate: Callable[[], Awaitable[bool] | bool], timeout: float) -> None:
    """Wait until `predicate()` (a plain or awaitable answer) is true, failing after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not (await answer if inspect.isawaitable(answer := predicate()) else answer):
        assert time.monotonic() < deadline, f"not within {timeout} s"
        await asyncio.sleep(0.05)  # polling a condition under a deadline


def test_postgres_crashing_under_load_loses_nothing_acknowledged(
    postgres: PrivatePostgres, tmp_path: Path, servers: list[Server]
) -> None:
    env = harbor_env(database_url=postgres.url, rate_limit_per_second="0")
    cli_json(env, "fleet", "create", "f1")
    key = cli_json(env, "key", "create", "--fleet", "f1")
    token = cli_json(env, "token", "create", "--fleet", "f1")
    server = Server(env, tmp_path / "server.log").start()
    servers.append(server)
    load = Load(server.url, key)
    auth = {"Authorization": f"Bearer {token['token']}"}

    async def scenario() -> None:
        async with httpx2.AsyncClient(base_url=server.url, timeout=30) as http:

            async def ready_is(status: int) -> bool:
                return (await http.get("/ready")).status_code == status

            # A first read starts the fleet's tracker (and caches the token); by the time 300 fixes are
            # acknowledged it has long loaded, so the outage finds it holding the fleet in memory.
            assert (await http.get("/api/v1/fleets/f1/status", headers=auth)).status_code == 200
            clients = [asyncio.create_task(load.client(n)) for n in range(CLIENTS)]
            await until(lambda: len(load.acknowledged) >= 300, 30)
            postgres.crash()
            before = len(load.acknowledged)
            await until(lambda: ready_is(503), 10)
            checks = (await http.get("/ready")).json()["error"]["checks"]
            assert checks["database"].startswith("unavailable")
            await until(lambda: load.answers[503] >= 20, 10)
            assert len(load.acknowledged) - before <= CLIENTS  # at most the commits already under way
            down = await http.get("/api/v1/fleets/f1/status", headers=auth)
            assert down.status_code == 200, down.text
            assert len(down.json()["vehicles"]) == CLIENTS  # from memory, for a token seen before

            postgres.start()
            await until(lambda: ready_is(200), 30)
            after = len(load.acknowledged)
            await until(lambda: len(load.acknowledged) >= after + 300, 30)  # recovered by itself
            load.stopping = True
            await asyncio.gather(*clients)

    asyncio.run(scenario())
    server.stop()
    assert set(load.answers) <= {202, 503} and load.answers[503] >= 20
    assert load.retry_after and all(value.isdigit() for value in load.retry_after)
    with psycopg.connect(postgres.url) as conn:
        stored = conn.execute("SELECT vehicle_id, recorded_at FROM fixes WHERE fleet_id = 'f1'").fetchall()
        events, max_seq = conn.execute("SELECT count(*), max(seq) FROM events WHERE fleet_id = 'f1'").fetchone()
        fleet_seq = conn.execute("SELECT seq FROM fleets WHERE fleet_id = 'f1'").fetchone()[0]
    stored_keys = {(v, t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")) for v, t in stored}
    assert set(load.acknowledged) <= stored_keys  # every acknowledged fix is there
    assert len(stored) == len(stored_keys) == len(set(load.acknowledged))  # once; nothing unacknowledged stays
    assert events == max_seq == fleet_seq == len(stored)  # one event per fix, seq gap-free
