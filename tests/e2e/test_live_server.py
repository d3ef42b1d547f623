"""The live stream on a real server: refusals as HTTP statuses, frames after commits, a close frame
on SIGTERM (1001 or 1012, never a dropped connection), and resuming with since after a restart."""

import asyncio
import json
import time
from pathlib import Path

import pytest
import websockets

from conftest import Server, cli_json, harbor_env, ingest


def post(server: Server, key: dict, vehicle_id: str, seconds_ago: float) -> None:
    recorded_at = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(time.time() - seconds_ago)) + "Z"
    fixes = [{"vehicle_id": vehicle_id, "lat": 1.0, "lng": 2.0, "recorded_at": recorded_at}]
    response = ingest(server.url, "f1", key, fixes)
    assert response.status_code == 202, response.text


async def next_frame(ws: websockets.ClientConnection) -> dict:
    async with asyncio.timeout(10):
        return json.loads(await ws.recv())


def test_live_on_a_real_server_survives_a_restart(database_url: str, tmp_path: Path, servers: list[Server]) -> None:
    env = harbor_env(database_url=database_url)
    cli_json(env, "fleet", "create", "f1")
    key = cli_json(env, "key", "create", "--fleet", "f1")
    token = cli_json(env, "token", "create", "--fleet", "f1")
    auth = {"Authorization": f"Bearer {token['token']}"}
    server = Server(env, tmp_path / "server.log").start()
    servers.append(server)
    live = f"ws://127.0.0.1:{server.port}/api/v1/fleets/f1/live"

    async def before_restart() -> int:
        with pytest.raises(websockets.InvalidStatus) as refused:
            async with websockets.connect(live):
                pass
        assert refused.value.response.status_code == 401
        async with websockets.connect(live, additional_headers=auth) as ws:
            assert (await next_frame(ws))["type"] == "snapshot"
            await asyncio.to_thread(post, server, key, "v1", 5)
            frame = await next_frame(ws)
            assert (frame["type"], frame["seq"]) == ("position", 1)
            server.process.terminate()  # SIGTERM  # type: ignore[union-attr]
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await next_frame(ws)
            assert closed.value.rcvd is not None and closed.value.rcvd.code in (1001, 1012)
            return int(frame["seq"])

    last = asyncio.run(before_restart())
    server.process.wait(timeout=20)  # type: ignore[union-attr]
    restarted = Server(env, tmp_path / "server.log", port=server.port).start()
    servers.append(restarted)
    post(restarted, key, "v2", 3)  # committed while no client was connected
    post(restarted, key, "v3", 2)

    async def after_restart() -> list[int]:
        async with websockets.connect(f"{live}?since={last}", additional_headers=auth) as ws:
            return [(await next_frame(ws))["seq"] for _ in range(2)]

    assert asyncio.run(after_restart()) == [2, 3]
