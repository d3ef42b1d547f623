"""Acknowledged = durable: many clients ingest, the server and its embedded PostgreSQL are killed
with SIGKILL mid-stream, and after a restart every acknowledged fix is stored exactly once."""

import asyncio
import json
import time
from pathlib import Path

import httpx2
import psycopg
from private_postgres import kill_postmaster

from conftest import Server, cli_json, harbor_env, signed

CLIENTS = 16
FIXES_PER_REQUEST = 5
KILL_AFTER_ACKNOWLEDGED = 2000


def kill_embedded_postgres(data_dir: Path) -> None:
    kill_postmaster(int((data_dir / "pg" / "postmaster.pid").read_text().split("\n", 1)[0]))


async def client(url: str, key: dict, number: int, acknowledged: list[tuple[str, str]], enough: asyncio.Event) -> None:
    async with httpx2.AsyncClient(base_url=url, timeout=10) as http:
        sent = 0
        while True:
            base = time.time() - 30
            fixes = [
                {
                    "vehicle_id": f"c{number}",
                    "lat": 1.0,
                    "lng": 2.0,
                    "recorded_at": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(base)) + f".{sent * 10 + i:06d}Z",
                }
                for i in range(FIXES_PER_REQUEST)
            ]
            sent += 1
            body = json.dumps({"fixes": fixes}).encode()
            try:
                response = await http.post("/api/v1/fleets/fleet-1/positions", content=body, headers=signed(key, body))
            except httpx2.TransportError:
                return  # the server is gone
            if response.status_code == 202:
                acknowledged.extend((f"c{number}", fix["recorded_at"]) for fix in fixes)
                if len(acknowledged) >= KILL_AFTER_ACKNOWLEDGED:
                    enough.set()


async def ingest_until_killed(server: Server, key: dict, data_dir: Path) -> list[tuple[str, str]]:
    acknowledged: list[tuple[str, str]] = []
    enough = asyncio.Event()
    tasks = [asyncio.create_task(client(server.url, key, n, acknowledged, enough)) for n in range(CLIENTS)]
    async with asyncio.timeout(60):
        await enough.wait()
    server.kill()  # the clients are still sending: this is mid-stream
    kill_embedded_postgres(data_dir)
    async with asyncio.timeout(30):
        await asyncio.gather(*tasks)
    return acknowledged


def test_every_acknowledged_fix_survives_kill_9(tmp_path: Path, servers: list[Server]) -> None:
    data_dir = tmp_path / "harbor"
    env = harbor_env(data_dir=str(data_dir))
    cli_json(env, "fleet", "create", "fleet-1")
    key = cli_json(env, "key", "create", "--fleet", "fleet-1")
    server = Server(env, tmp_path / "server.log").start()
    servers.append(server)

    acknowledged = asyncio.run(ingest_until_killed(server, key, data_dir))
    assert len(acknowledged) >= KILL_AFTER_ACKNOWLEDGED

    restarted = Server(env, tmp_path / "server.log").start()
    servers.append(restarted)
    token = cli_json(env, "token", "create", "--fleet", "fleet-1")  # a command beside a running server
    with psycopg.connect(host=str(data_dir / "pg"), dbname="harbor", user="postgres") as conn:
        rows = conn.execute(
            "SELECT vehicle_id, to_char(recorded_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') FROM fixes"
        ).fetchall()
        events, last_seq = conn.execute("SELECT count(*), max(seq) FROM events").fetchone()
    stored = [tuple(row) for row in rows]
    assert len(stored) == len(set(stored))  # exactly once
    missing = set(acknowledged) - set(stored)
    assert not missing, f"{len(missing)} acknowledged fixes lost, e.g. {sorted(missing)[:3]}"
    assert events == len(stored) and last_seq == len(stored)  # one event per stored fix, no gaps

    status = httpx2.get(
        f"{restarted.url}/api/v1/fleets/fleet-1/status", headers={"authorization": f"Bearer {token['token']}"}
    )
    assert status.status_code == 200 and status.json()["seq"] == last_seq
