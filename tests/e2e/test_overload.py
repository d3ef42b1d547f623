"""A flood of ingest: past its bounded writer queue the service sheds load with 503 overloaded and
Retry-After instead of queueing, its memory stays within a bound, and every fix it acknowledged is stored."""

import asyncio
import json
import threading
import time
from collections import Counter
from pathlib import Path

import httpx2
import psutil
import psycopg

from conftest import Server, cli_json, harbor_env, signed

CLIENTS = 400  # at once, open loop: an unbounded queue would hold all of their fixes
FIXES_PER_REQUEST = 500
REQUESTS_PER_CLIENT = 1
MAX_PENDING_FIXES = 1000
# Above the warmed-up server's own size. Measured on a 2-core machine: +17 MB with the writer's bound, +87 MB
# with the bound lifted (every request's fixes queued at once).
MEMORY_BOUND_BYTES = 50 * 1024 * 1024


class PeakMemory:
    """The largest resident size of a process, sampled on a thread while the flood runs."""

    def __init__(self, pid: int) -> None:
        self._process = psutil.Process(pid)
        self.baseline = self._process.memory_info().rss
        self.peak = self.baseline
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, self._process.memory_info().rss)

    def __enter__(self) -> "PeakMemory":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


async def flood(url: str, key: dict[str, str]) -> tuple[Counter[int], int, set[str]]:
    answers: Counter[int] = Counter()
    retry_after: set[str] = set()
    accepted = 0
    base = time.time() - 60

    async def client(number: int) -> None:
        nonlocal accepted
        async with httpx2.AsyncClient(base_url=url, timeout=120) as http:
            for request in range(REQUESTS_PER_CLIENT):
                fixes = [
                    {
                        "vehicle_id": f"c{number}",
                        "lat": 1.0,
                        "lng": 2.0,
                        "recorded_at": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(base))
                        + f".{request * FIXES_PER_REQUEST + i:06d}Z",
                    }
                    for i in range(FIXES_PER_REQUEST)
                ]
                body = json.dumps({"fixes": fixes}).encode()
                response = await http.post("/api/v1/fleets/f1/positions", content=body, headers=signed(key, body))
                answers[response.status_code] += 1
                if response.status_code == 202:
                    accepted += response.json()["accepted"]
                elif response.status_code == 503:
                    assert response.json()["error"]["code"] == "overloaded"
                    retry_after.add(response.headers["retry-after"])

    await asyncio.gather(*(client(n) for n in range(CLIENTS)))
    return answers, accepted, retry_after


def test_a_flood_is_shed_with_503_memory_stays_bounded_and_nothing_acknowledged_is_lost(
    database_url: str, tmp_path: Path, servers: list[Server]
) -> None:
    env = harbor_env(
        database_url=database_url, rate_limit_per_second="0", writer_max_pending_fixes=str(MAX_PENDING_FIXES)
    )
    cli_json(env, "fleet", "create", "f1")
    key = cli_json(env, "key", "create", "--fleet", "f1")
    server = Server(env, tmp_path / "server.log").start()
    servers.append(server)
    assert server.process is not None
    with PeakMemory(server.process.pid) as memory:
        answers, accepted, retry_after = asyncio.run(flood(server.url, key))
    assert set(answers) <= {202, 503}, answers
    assert answers[503] > 0 and answers[202] > 0  # shed, and still serving
    assert retry_after == {"1"}
    assert memory.peak - memory.baseline < MEMORY_BOUND_BYTES, (memory.baseline, memory.peak)
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT count(*) FROM fixes WHERE fleet_id = 'f1'").fetchone() == (accepted,)
