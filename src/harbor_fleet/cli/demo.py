"""`simulate` and `demo`: vehicles on the move, against a server or an embedded one started here."""

import argparse
import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from harbor_fleet.adapters.postgres import database
from harbor_fleet.adapters.postgres.store import PostgresStore
from harbor_fleet.bootstrap import prepare_database
from harbor_fleet.domain.fleet import FleetSettings
from harbor_fleet.service.admin import Admin, AdminError
from harbor_fleet.service.device_admin import DeviceAdmin
from harbor_fleet.settings import Settings
from harbor_fleet.simulator.phones import PROTOCOLS, Device, Phone
from harbor_fleet.simulator.routes import fleet_of
from harbor_fleet.simulator.run import Target, simulate

DEMO_FLEET = "demo"
HAMBURG_HARBOUR = (53.5425, 9.9660)


class UsageError(Exception):
    """A command-line problem found after parsing (exit 2)."""


def parse_centre(text: str) -> tuple[float, float]:
    try:
        lat, lng = (float(part) for part in text.split(","))
    except ValueError as error:
        raise argparse.ArgumentTypeError("expected LAT,LNG, e.g. 53.54,9.97") from error
    if not (-80 <= lat <= 80 and -180 <= lng <= 180):
        raise argparse.ArgumentTypeError("LAT must be within ±80 and LNG within ±180")
    return lat, lng


def run_simulate(args: argparse.Namespace) -> int:
    if args.protocol == "harbor":
        if not args.fleet:
            raise UsageError("--fleet is needed for signed batches (--protocol harbor)")
        key_id, secret = _key(args)
        target = Target(args.url, args.fleet, key_id, secret)
        tally = simulate(target, args.vehicles, args.rate, args.duration, args.centre)
    else:
        devices = _devices(args.devices_file, args.protocol)
        phones = {index: Phone(args.url, args.protocol, device) for index, device in enumerate(devices)}
        target = Target(args.url, args.fleet or "", "", "")  # phones alone: their credentials name the fleet
        tally = simulate(target, len(devices), args.rate, args.duration, args.centre, phones=phones)
    return 0 if tally.accepted or tally.duplicates else 1


def _devices(path: str | None, protocol: str) -> list[Device]:
    """The devices `device create --json` printed into `path`, one JSON object per line."""
    if not path:
        raise UsageError(f"--protocol {protocol} needs --devices-file (what `device create --json` printed)")
    try:
        lines = [line for line in Path(path).read_text().splitlines() if line.strip()]
        found = [json.loads(line) for line in lines]
        devices = [Device(str(d["device_id"]), str(d["vehicle_id"]), str(d["token"])) for d in found]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise UsageError(f"--devices-file {path}: expected `device create --json` output, one per line") from error
    if not devices:
        raise UsageError(f"--devices-file {path} names no device")
    return devices


def _key(args: argparse.Namespace) -> tuple[str, str]:
    if args.key_file:
        try:
            issued = json.loads(Path(args.key_file).read_text())
            return str(issued["key_id"]), str(issued["secret"])
        except (OSError, ValueError, KeyError) as error:
            raise UsageError(f"--key-file {args.key_file}: expected the JSON `key create --json` prints") from error
    secret = args.secret or os.environ.get("HARBOR_SIMULATE_SECRET")
    if not (args.key_id and secret):
        raise UsageError("give --key-file, or --key-id with --secret (or HARBOR_SIMULATE_SECRET)")
    return str(args.key_id), secret


def run_demo(args: argparse.Namespace, settings: Settings) -> int:
    signal.signal(signal.SIGTERM, _interrupt)  # stop like Ctrl-C, so the server is stopped too
    vehicle_ids = [vehicle.vehicle_id for vehicle in fleet_of(args.vehicles, args.centre)]
    key, token, devices = asyncio.run(_demo_credentials(settings, vehicle_ids))
    env = {**os.environ, "HARBOR_PORT": str(args.port), "HARBOR_HOST": "127.0.0.1"}
    if settings.database_url:
        env["HARBOR_DATABASE_URL"] = settings.database_url
    env["HARBOR_DATA_DIR"] = str(settings.data_dir)
    server = subprocess.Popen([sys.executable, "-m", "harbor_fleet", "serve", "--port", str(args.port)], env=env)
    url = f"http://127.0.0.1:{args.port}"
    try:
        _wait_healthy(url, server)
        print(
            f"Harbor Fleet demo is running.\n  map:   {url}/fleets/{DEMO_FLEET}/map\n  token: {token}"
            "   (sign in with it)\n  Ctrl-C stops the demo. A third of the vehicles each report as a partner's"
            " server (signed batches), as Traccar Client and as OwnTracks.",
            flush=True,
        )
        phones = {index: Phone(url, protocol, device) for index, (protocol, device) in devices.items()}
        simulate(Target(url, DEMO_FLEET, *key), args.vehicles, args.rate, None, args.centre, phones=phones)
    finally:
        server.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            server.wait(timeout=15)
    return 0


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


async def _demo_credentials(
    settings: Settings, vehicle_ids: list[str]
) -> tuple[tuple[str, str], str, dict[int, tuple[str, Device]]]:
    """The demo fleet's key and token, and a device for every vehicle that reports as a phone (index → its
    protocol and device): the vehicles take the three ways in turn."""
    url = await prepare_database(settings, migrate=settings.migrate_on_start)
    pool = database.make_pool(url, 1)
    await pool.open(wait=True)
    try:
        admin = Admin(PostgresStore(pool))
        with contextlib.suppress(AdminError):  # the demo fleet of an earlier run is reused
            await admin.create_fleet(FleetSettings(DEMO_FLEET, "Demo fleet", offline_after_s=60))
        key = await admin.create_key([DEMO_FLEET])
        token = await admin.create_token([DEMO_FLEET])
        devices: dict[int, tuple[str, Device]] = {}
        for index, vehicle_id in enumerate(vehicle_ids):
            protocol = PROTOCOLS[index % len(PROTOCOLS)]
            if protocol != "harbor":
                issued = await DeviceAdmin(admin.store).create(DEMO_FLEET, vehicle_id)
                devices[index] = (protocol, Device(issued.device_id, vehicle_id, issued.token))
    finally:
        await pool.close()
    return (key.key_id, key.secret), token.token, devices


def _wait_healthy(url: str, server: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise UsageError(f"the server exited with {server.returncode}; see its log above")
        with (
            contextlib.suppress(urllib.error.URLError, OSError),
            urllib.request.urlopen(f"{url}/health", timeout=1) as response,
        ):
            if response.status == 200:
                return
        time.sleep(0.1)  # polling the server's start under a deadline
    raise UsageError(f"the server did not answer {url}/health within {timeout:.0f} s")
