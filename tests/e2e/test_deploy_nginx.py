"""The shipped nginx configuration (deploy/nginx/harbor-fleet.conf), run by Debian's nginx with TLS in front
of two real `serve` processes on one database. Only the upstream addresses, the listen ports and the
certificate and log paths are replaced; everything else is the file as shipped.

Through nginx: a signed ingest is acknowledged and carries a request id (nginx's own, or the caller's),
the same id nginx logs; status reflects the fix; a live stream gets its snapshot and then the fix's frame;
the map's session cookie is Secure and its live stream passes the Origin check (X-Forwarded-Proto and the
Host header reach the servers); requests are spread over both servers, and with one killed every request
still gets its answer. Oversized bodies and /metrics are answered by nginx itself, in the API's shape."""

import asyncio
import grp
import json
import os
import pwd
import re
import shutil
import signal
import ssl
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import httpx2
import pytest
import websockets

from conftest import Server, cli_json, free_port, harbor_env, signed
from helpers import eventually

SHIPPED = Path(__file__).resolve().parents[2] / "deploy" / "nginx" / "harbor-fleet.conf"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
OPENSSL = shutil.which("openssl") or "/usr/bin/openssl"
NGINX_REQUEST_ID = re.compile(r"[0-9a-f]{32}")  # nginx's $request_id; the servers' own ids have a dash


def render(upstream_ports: list[int], https_port: int, http_port: int, folder: Path) -> str:
    """The shipped file with this test's addresses; every replaced line must be in it exactly once (or
    as often as said), so a change to the file's shape fails here rather than testing something else."""
    text = SHIPPED.read_text()
    first, second = upstream_ports
    replacements = [
        ("    server 10.0.0.11:8000 ", f"    server 127.0.0.1:{first} ", 1),
        ("    server 10.0.0.12:8000 ", f"    server 127.0.0.1:{second} ", 1),
        ("    listen 80;", f"    listen 127.0.0.1:{http_port};", 1),
        ("    listen 443 ssl;", f"    listen 127.0.0.1:{https_port} ssl;", 1),
        ("/etc/ssl/harbor-fleet/", f"{folder}/", 2),
        ("/var/log/nginx/", f"{folder}/", 2),
    ]
    for old, new, count in replacements:
        assert text.count(old) == count, f"{SHIPPED} should have {old!r} {count} time(s)"
        text = text.replace(old, new)
    return text


def main_config(folder: Path) -> str:
    """A minimal nginx.conf of the test's own: everything under `folder`, in the foreground, including the
    rendered file where a server's /etc/nginx/conf.d/ would."""
    user = ""
    if os.geteuid() == 0:  # workers would drop to `nobody`, who cannot enter the test's private folder
        user = f"user {pwd.getpwuid(os.geteuid()).pw_name} {grp.getgrgid(os.getegid()).gr_name};"
    temp = "\n".join(f"    {kind}_temp_path {folder}/{kind}_temp;" for kind in ("client_body", "proxy"))
    return f"""{user}
daemon off;
worker_processes 1;
pid {folder}/nginx.pid;
error_log {folder}/error.log notice;
events {{ worker_connections 256; }}
http {{
    default_type application/octet-stream;
    access_log off;
{temp}
    fastcgi_temp_path {folder}/fastcgi_temp;
    uwsgi_temp_path {folder}/uwsgi_temp;
    scgi_temp_path {folder}/scgi_temp;
    include {folder}/harbor-fleet.conf;
}}
"""


def self_signed_certificate(folder: Path) -> None:
    """A certificate for 127.0.0.1 where the shipped file expects one; the clients trust exactly it."""
    key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    files = ["-keyout", str(folder / "privkey.pem"), "-out", str(folder / "fullchain.pem")]
    subject = ["-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-days", "1"]
    subprocess.run(
        [OPENSSL, "req", "-x509", *key, *files, *subject],
        check=True,
        capture_output=True,
        timeout=60,
    )


@dataclass
class Front:
    """nginx with the shipped configuration in front of two servers, and the fleet's credentials."""

    folder: Path
    servers: list[Server]
    key: dict[str, str]
    token: dict[str, str]
    https_port: int = field(default_factory=free_port)
    http_port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.https_port}"

    @property
    def tls(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.folder / "fullchain.pem")

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token['token']}"}

    def client(self) -> httpx2.Client:
        return httpx2.Client(base_url=self.url, verify=self.tls, timeout=10)

    def start(self) -> None:
        self_signed_certificate(self.folder)
        ports = [server.port for server in self.servers]
        (self.folder / "harbor-fleet.conf").write_text(render(ports, self.https_port, self.http_port, self.folder))
        (self.folder / "nginx.conf").write_text(main_config(self.folder))
        command = [NGINX, "-p", str(self.folder), "-c", str(self.folder / "nginx.conf"), "-e", "error.log"]
        with (self.folder / "nginx.out").open("ab") as out:
            self.process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
        eventually(self._answers, timeout=30, interval=0.05)

    def _answers(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            logs = "".join(path.read_text() for path in self.folder.glob("*.out")) + self.error_log()
            raise AssertionError(f"nginx exited with {self.process.returncode}: {logs}")
        try:
            with self.client() as http:
                return http.get("/health").status_code == 200
        except httpx2.TransportError:
            return False

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)

    def error_log(self) -> str:
        path = self.folder / "error.log"
        return path.read_text() if path.exists() else ""

    def access_log(self) -> list[str]:
        path = self.folder / "harbor-fleet.access.log"
        return path.read_text().splitlines() if path.exists() else []

    def ingest(self, http: httpx2.Client, vehicle_id: str, **headers: str) -> httpx2.Response:
        fix = {"vehicle_id": vehicle_id, "lat": 52.5, "lng": 13.4, "recorded_at": recorded(seconds_ago=2)}
        body = json.dumps({"fixes": [fix]}).encode()
        return http.post("/api/v1/fleets/f1/positions", content=body, headers={**signed(self.key, body), **headers})

    def status(self, http: httpx2.Client) -> dict[str, Any]:
        response = http.get("/api/v1/fleets/f1/status", headers=self.auth)
        assert response.status_code == 200, response.text
        return dict(response.json())

    def live(self) -> str:
        return f"wss://127.0.0.1:{self.https_port}/api/v1/fleets/f1/live"


def recorded(seconds_ago: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - seconds_ago))


@pytest.fixture
def nginx_installed(missing_service: Callable[[str, str], NoReturn]) -> None:
    """Debian's nginx, and openssl for the test's certificate (`./dev test` installs both as root)."""
    for program, package in ((NGINX, "nginx"), (OPENSSL, "openssl")):
        if not Path(program).exists():
            missing_service(f"{package} is not installed (apt-get install {package})", "the nginx deployment tests")


@pytest.fixture
def front(nginx_installed: None, database_url: str, tmp_path: Path, servers: list[Server]) -> Iterator[Front]:
    env = harbor_env(database_url=database_url)
    cli_json(env, "fleet", "create", "f1")
    key = cli_json(env, "key", "create", "--fleet", "f1")
    token = cli_json(env, "token", "create", "--fleet", "f1")
    pair = [Server(env, tmp_path / "a.log").start(), Server(env, tmp_path / "b.log").start()]
    servers.extend(pair)
    folder = tmp_path / "nginx"
    folder.mkdir()
    started = Front(folder, pair, key, token)
    try:
        started.start()
        yield started
    finally:
        started.stop()


def logged_with(front: Front, request_id: str) -> list[str]:
    return [line for line in front.access_log() if line.endswith(f"request_id={request_id}")]


def test_ingest_and_status_through_nginx_carry_request_ids(front: Front) -> None:
    with front.client() as http:
        response = front.ingest(http, "van-1")
        assert response.status_code == 202, response.text
        assert response.json() == {"accepted": 1, "duplicates": 0}
        generated = response.headers["x-request-id"]
        assert NGINX_REQUEST_ID.fullmatch(generated), generated  # nginx's id reached the server and came back
        eventually(lambda: len(logged_with(front, generated)) == 1)  # the one id nginx logged for it
        assert " 202 " in logged_with(front, generated)[0]

        given = front.ingest(http, "van-2", **{"X-Request-ID": "partner-batch-0042"})
        assert given.status_code == 202, given.text
        assert given.headers["x-request-id"] == "partner-batch-0042"
        eventually(lambda: len(logged_with(front, "partner-batch-0042")) == 1)

        def both_servers_hold_both() -> bool:  # round robin: two reads in a row ask each server once
            return all([v["vehicle_id"] for v in front.status(http)["vehicles"]] == ["van-1", "van-2"] for _ in "ab")

        eventually(both_servers_hold_both, timeout=15)  # the bus carried each server's commit to the other
        status = http.get("/api/v1/fleets/f1/status", headers={**front.auth, "X-Request-ID": "ops-1"})
        assert status.json()["seq"] == 2 and status.headers["x-request-id"] == "ops-1"


def test_nginx_answers_oversized_bodies_metrics_and_plain_http_itself(front: Front) -> None:
    with front.client() as http:
        body = b"{" + b" " * (1024 * 1024) + b"}"  # one byte past the API's 1 MiB
        too_large = http.post("/api/v1/fleets/f1/positions", content=body, headers=signed(front.key, body))
        assert too_large.status_code == 413
        assert too_large.json()["error"]["code"] == "body_too_large"
        refused_id = too_large.headers["x-request-id"]
        assert NGINX_REQUEST_ID.fullmatch(refused_id)
        eventually(lambda: len(logged_with(front, refused_id)) == 1)
        assert " 413 " in logged_with(front, refused_id)[0] and "upstream=- " in logged_with(front, refused_id)[0]

        metrics = http.get("/metrics")
        assert metrics.status_code == 404 and metrics.json()["error"]["code"] == "not_found"
        for server in front.servers:  # still there for Prometheus, on each server directly
            assert httpx2.get(f"{server.url}/metrics").status_code == 200

    plain = httpx2.get(f"http://127.0.0.1:{front.http_port}/api/v1/fleets/f1/status?x=1")
    assert plain.status_code == 308
    assert plain.headers["location"] == "https://127.0.0.1/api/v1/fleets/f1/status?x=1"


def test_live_streams_through_nginx(front: Front) -> None:
    with front.client() as http:
        signed_in = http.post("/api/v1/session", json={"token": front.token["token"]})
        assert signed_in.status_code == 200, signed_in.text
    cookie = signed_in.headers["set-cookie"]
    assert "; Secure" in cookie  # X-Forwarded-Proto: https reached the server, and it believed nginx
    session = cookie.split(";")[0]

    def ingest_once() -> int:
        with front.client() as http:
            return front.ingest(http, "van-9").status_code

    async def stream() -> list[dict[str, Any]]:
        bearer = websockets.connect(front.live(), ssl=front.tls, additional_headers=front.auth)
        # The map's stream: the session cookie, and an Origin the server compares with the Host nginx passed.
        origin = {"Cookie": session, "Origin": front.url}
        browser = websockets.connect(front.live(), ssl=front.tls, additional_headers=origin)
        async with bearer as ws, browser as map_ws:
            snapshots = [json.loads(await ws.recv()), json.loads(await map_ws.recv())]
            assert await asyncio.to_thread(ingest_once) == 202
            async with asyncio.timeout(15):
                return [*snapshots, json.loads(await ws.recv()), json.loads(await map_ws.recv())]

    snapshot, map_snapshot, frame, map_frame = asyncio.run(stream())
    for opening in (snapshot, map_snapshot):
        assert opening["type"] == "snapshot" and opening["seq"] == 0 and opening["vehicles"] == []
    for position in (frame, map_frame):
        assert position["type"] == "position" and position["seq"] == 1 and position["vehicle_id"] == "van-9"


def test_requests_are_spread_over_both_servers_and_survive_one_being_killed(front: Front) -> None:
    ports = {f"upstream=127.0.0.1:{server.port}" for server in front.servers}

    def upstreams_logged() -> set[str]:
        return {word for line in front.access_log() for word in line.split() if word.startswith("upstream=")}

    with front.client() as http:
        for _ in range(6):
            front.status(http)
        eventually(lambda: ports <= upstreams_logged())  # round robin: each server had its share

        front.servers[0].kill()  # SIGKILL: connections refused from now on
        for n in range(6):  # every request still answered: nginx moves on to the server that is left
            assert front.ingest(http, f"after-{n}").status_code == 202
        assert front.status(http)["seq"] == 6
