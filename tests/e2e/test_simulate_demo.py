"""`simulate` drives vehicles against a running server; `demo` runs everything embedded."""

import json
import signal
import subprocess
from pathlib import Path

import httpx2
import psutil
import pytest

from conftest import HARBOR, Server, cli, cli_json, free_port, harbor_env
from helpers import eventually


def test_simulate_reports_vehicles_to_a_server(database_url: str, tmp_path: Path, servers: list[Server]) -> None:
    env = harbor_env(database_url=database_url)
    cli_json(env, "fleet", "create", "sim")
    key_file = tmp_path / "key.json"
    key_file.write_text(json.dumps(cli_json(env, "key", "create", "--fleet", "sim")))
    token = cli_json(env, "token", "create", "--fleet", "sim")
    server = Server(env, tmp_path / "server.log").start()
    servers.append(server)
    result = cli(
        env,
        "simulate",
        "--url",
        server.url,
        "--fleet",
        "sim",
        "--key-file",
        str(key_file),
        "--vehicles",
        "4",
        "--rate",
        "20",
        "--duration",
        "1.5",
    )
    assert "accepted" in result.stderr and "failed requests 0" in result.stderr.splitlines()[-1]
    status = httpx2.get(f"{server.url}/api/v1/fleets/sim/status", headers={"authorization": f"Bearer {token['token']}"})
    vehicles = status.json()["vehicles"]
    assert [v["vehicle_id"] for v in vehicles] == [f"vehicle-00{n}" for n in range(1, 5)]
    assert all(v["status"] == "online" and v["speed_kmh"] for v in vehicles)


@pytest.mark.parametrize("protocol", ["osmand", "owntracks"])
def test_simulate_reports_as_phones(protocol: str, database_url: str, tmp_path: Path, servers: list[Server]) -> None:
    env = harbor_env(database_url=database_url)
    cli_json(env, "fleet", "create", "sim")
    devices = [
        cli(env, "device", "create", "--fleet", "sim", "--vehicle", f"phone-{n}", "--json").stdout for n in (1, 2)
    ]
    devices_file = tmp_path / "devices.jsonl"
    devices_file.write_text("".join(devices))
    token = cli_json(env, "token", "create", "--fleet", "sim")
    server = Server(env, tmp_path / "server.log").start()
    servers.append(server)
    args = ["--url", server.url, "--fleet", "sim", "--protocol", protocol, "--devices-file", str(devices_file)]
    result = cli(env, "simulate", *args, "--rate", "4", "--duration", "1.5")
    assert "failed requests 0" in result.stderr.splitlines()[-1]
    status = httpx2.get(f"{server.url}/api/v1/fleets/sim/status", headers={"authorization": f"Bearer {token['token']}"})
    assert [v["vehicle_id"] for v in status.json()["vehicles"]] == ["phone-1", "phone-2"]
    without = cli(env, "simulate", "--fleet", "sim", "--protocol", protocol, check=False)
    assert without.returncode == 2 and "--devices-file" in without.stderr


def test_simulate_without_a_key_is_a_usage_error(tmp_path: Path) -> None:
    result = cli(harbor_env(), "simulate", "--fleet", "x", check=False)
    assert result.returncode == 2 and "--key-file" in result.stderr


def test_demo_runs_embedded_and_stops_cleanly(tmp_path: Path) -> None:
    port = free_port()
    env = harbor_env(data_dir=str(tmp_path / "harbor"))
    demo = subprocess.Popen(
        [*HARBOR, "demo", "--port", str(port), "--vehicles", "3"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        lines = [demo.stdout.readline() for _ in range(3)]  # type: ignore[union-attr]
        assert f"http://127.0.0.1:{port}/fleets/demo/map" in lines[1]
        token = lines[2].split("token:")[1].split()[0]
        status = f"http://127.0.0.1:{port}/api/v1/fleets/demo/status"
        vehicles = lambda: httpx2.get(status, headers={"authorization": f"Bearer {token}"}).json()["vehicles"]  # noqa: E731
        eventually(lambda: len(vehicles()) == 3, timeout=30)  # the simulated vehicles have all reported
    finally:
        demo.send_signal(signal.SIGTERM)
        exit_code = demo.wait(timeout=30)
        demo.stdout.close()  # type: ignore[union-attr]
    assert exit_code == 0
    assert not [p for p in psutil.process_iter(["cmdline"]) if str(tmp_path) in " ".join(p.info["cmdline"] or [])]
