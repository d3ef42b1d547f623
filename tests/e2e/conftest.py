"""End-to-end: the real `harbor-fleet` command and server as subprocesses."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2
import pytest

from harbor_fleet.domain.signing import sign
from helpers import eventually

HARBOR = [sys.executable, "-m", "harbor_fleet"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def harbor_env(**settings: str) -> dict[str, str]:
    """The test process's environment without HARBOR_ settings, plus `settings`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HARBOR_")}
    env.update({f"HARBOR_{k.upper()}": v for k, v in settings.items()})
    return env


def signed(key: dict[str, str], body: bytes) -> dict[str, str]:
    """Headers of a signed ingest request with `key` (as `key create --json` prints it)."""
    ts = str(int(time.time()))
    return {
        "content-type": "application/json",
        "x-harbor-key": key["key_id"],
        "x-harbor-timestamp": ts,
        "x-harbor-signature": "v1=" + sign(key["secret"].encode(), ts, body),
    }


def ingest(url: str, fleet_id: str, key: dict[str, str], fixes: list[dict[str, object]]) -> httpx2.Response:
    body = json.dumps({"fixes": fixes}).encode()
    return httpx2.post(f"{url}/api/v1/fleets/{fleet_id}/positions", content=body, headers=signed(key, body))


def cli(env: dict[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([*HARBOR, *args], env=env, capture_output=True, text=True, timeout=120)
    if check and result.returncode != 0:
        raise AssertionError(f"harbor-fleet {' '.join(args)} failed ({result.returncode}): {result.stderr}")
    return result


def cli_json(env: dict[str, str], *args: str) -> Any:
    return json.loads(cli(env, *args, "--json").stdout)


@dataclass
class Server:
    env: dict[str, str]
    log_path: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> "Server":
        with self.log_path.open("ab") as log:  # the child keeps its own descriptor
            self.process = subprocess.Popen(
                [*HARBOR, "serve", "--port", str(self.port)], env=self.env, stdout=log, stderr=subprocess.STDOUT
            )
        try:
            eventually(self._healthy, timeout=timeout, interval=0.05)
        except AssertionError as error:
            raise AssertionError(f"{error}; server log: {self.log_path.read_text()}") from None
        return self

    def _healthy(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"server exited with {self.process.returncode}: {self.log_path.read_text()}")
        try:
            return httpx2.get(f"{self.url}/health", timeout=1).status_code == 200
        except httpx2.TransportError:
            return False

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[list[Server]]:
    """Servers a test starts; all are stopped at the end."""
    started: list[Server] = []
    yield started
    for server in started:
        server.stop()
