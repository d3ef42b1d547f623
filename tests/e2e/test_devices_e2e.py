"""A phone set up as docs/devices.md says, against a real server: `device create` prints the values, the
app's own requests with those values put the vehicle on the live stream and in status, and a server killed
with SIGKILL mid-stream loses none of the fixes it acknowledged to the phones.

The requests are built as the apps build them: Traccar Client for Android sends the OsmAnd query
(traccar/traccar-client-android `ProtocolFormatter.kt`: id, timestamp in seconds, lat, lon, speed in knots,
bearing, altitude, accuracy, batt) in a POST with an empty body (`RequestManager.kt`); OwnTracks posts a
`_type: location` message with HTTP Basic credentials (owntracks/android `MessageLocation.kt`)."""

import asyncio
import json
import time
from pathlib import Path

import httpx2
import psycopg
import websockets

from conftest import Server, cli_json, harbor_env

KILL_AFTER_ACKNOWLEDGED = 100
PHONES = 4


def test_a_phone_set_up_from_the_printed_values_reaches_the_map(
    database_url: str, tmp_path: Path, servers: list[Server]
) -> None:
    env = harbor_env(database_url=database_url)
    server = Server(env, tmp_path / "serve.log")
    env["HARBOR_PUBLIC_URL"] = server.url  # what the phones reach: here, the test's own server
    cli_json(env, "fleet", "create", "depot-1")
    token = cli_json(env, "token", "create", "--fleet", "depot-1")["token"]
    van = cli_json(env, "device", "create", "--fleet", "depot-1", "--vehicle", "van-7")
    bike = cli_json(env, "device", "create", "--fleet", "depot-1", "--vehicle", "bike-2")
    servers.append(server.start())

    async def watch() -> list[dict[str, object]]:
        url = f"ws://127.0.0.1:{server.port}/api/v1/fleets/depot-1/live"
        async with websockets.connect(url, additional_headers={"Authorization": f"Bearer {token}"}) as ws:
            assert json.loads(await ws.recv())["type"] == "snapshot"
            now = int(time.time())
            query = {
                "id": van["osmand"]["id"],
                "timestamp": str(now - 2),
                "lat": "53.54",
                "lon": "9.98",
                "speed": "10",
                "bearing": "45",
                "altitude": "12",
                "accuracy": "8",
                "batt": "64",
            }
            traccar = await asyncio.to_thread(httpx2.post, van["osmand"]["url"], params=query)
            assert (traccar.status_code, traccar.content) == (200, b"")
            location = {"_type": "location", "lat": 53.55, "lon": 9.99, "tst": now - 1, "vel": 20, "batt": 90}
            auth = (bike["owntracks"]["username"], bike["owntracks"]["password"])
            owntracks = await asyncio.to_thread(httpx2.post, bike["owntracks"]["url"], json=location, auth=auth)
            assert (owntracks.status_code, owntracks.json()) == (200, [])
            async with asyncio.timeout(10):
                return [json.loads(await ws.recv()) for _ in range(2)]

    frames = asyncio.run(watch())
    assert [(f["type"], f["vehicle_id"], f["speed_kmh"]) for f in frames] == [
        ("position", "van-7", 18.52),
        ("position", "bike-2", 20.0),
    ]
    status = httpx2.get(f"{server.url}/api/v1/fleets/depot-1/status", headers={"Authorization": f"Bearer {token}"})
    assert sorted(v["vehicle_id"] for v in status.json()["vehicles"]) == ["bike-2", "van-7"]
    listed = cli_json(env, "device", "list", "--fleet", "depot-1")["devices"]
    assert {d["vehicle_id"]: d["battery_percent"] for d in listed} == {"van-7": 64.0, "bike-2": 90.0}


async def phone(
    url: str, credential: str, number: int, acknowledged: list[tuple[int, int]], enough: asyncio.Event
) -> None:
    """A Traccar Client sending one fix after another, each kept until it is answered 200; odd-numbered
    phones run the SDK's JSON upload, five positions a request (traccar/traccar-client-sdk HttpUploader.kt)."""
    batch = 5 if number % 2 else 1
    async with httpx2.AsyncClient(timeout=10) as http:
        base = int(time.time()) - 3600
        for sent in range(0, 10_000, batch):
            times = [base + sent + k for k in range(batch)]
            try:
                if batch == 1:
                    query = {"id": credential, "timestamp": str(times[0]), "lat": "1", "lon": str(number)}
                    response = await http.post(url, params=query)
                else:
                    items = [{"id": credential, "timestamp": at, "lat": 1.0, "lon": float(number)} for at in times]
                    response = await http.post(url, json=items)
            except httpx2.TransportError:
                return  # the server is gone
            if response.status_code == 200:
                acknowledged.extend((number, at) for at in times)
                if len(acknowledged) >= KILL_AFTER_ACKNOWLEDGED:
                    enough.set()


def test_every_fix_acknowledged_to_a_phone_survives_kill_9(
    database_url: str, tmp_path: Path, servers: list[Server]
) -> None:
    env = harbor_env(database_url=database_url)
    cli_json(env, "fleet", "create", "depot-1")
    token = cli_json(env, "token", "create", "--fleet", "depot-1")["token"]
    devices = [cli_json(env, "device", "create", "--fleet", "depot-1", "--vehicle", f"p{n}") for n in range(PHONES)]
    server = Server(env, tmp_path / "serve.log").start()
    servers.append(server)

    async def report_until_killed() -> list[tuple[int, int]]:
        acknowledged: list[tuple[int, int]] = []
        enough = asyncio.Event()
        url = f"{server.url}/api/v1/osmand"
        tasks = [asyncio.create_task(phone(url, d["token"], n, acknowledged, enough)) for n, d in enumerate(devices)]
        async with asyncio.timeout(60):
            await enough.wait()
        server.kill()  # the phones are still sending: this is mid-stream
        async with asyncio.timeout(30):
            await asyncio.gather(*tasks)
        return acknowledged

    acknowledged = asyncio.run(report_until_killed())
    restarted = Server(env, tmp_path / "restarted.log").start()
    servers.append(restarted)
    with psycopg.connect(database_url) as conn:
        rows = conn.execute("SELECT vehicle_id, extract(epoch FROM recorded_at)::bigint FROM fixes").fetchall()
    stored = {(int(vehicle[1:]), int(at)) for vehicle, at in rows}
    assert len(rows) == len(stored)  # each once
    assert set(acknowledged) <= stored
    status = httpx2.get(f"{restarted.url}/api/v1/fleets/depot-1/status", headers={"Authorization": f"Bearer {token}"})
    assert status.json()["seq"] == len(rows)  # the restarted server serves exactly what was stored
