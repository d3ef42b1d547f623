"""Benchmarks for harbor-fleet: status reads, signed single-fix ingest, 1000-fix batches (DESIGN 3).

    .venv/bin/python bench/run.py [status|ingest|batch|all] [--duration S] [--connections 50]

The server runs pinned to core 0 (`taskset -c 0`), the load generator (wrk, hey) to core 1, PostgreSQL
unpinned; with --workers 2 or more, the server and the generator run on every core. bench/workers.py compares
worker counts. By default a fresh database bench_<random> is created on the local PostgreSQL and dropped at the
end. What each figure means: bench/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import hmac
import json
import math
import os
import re
import resource
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
from psycopg import sql

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
HARBOR = ROOT / ".venv" / "bin" / "harbor-fleet"
INGEST_LUA = BENCH_DIR / "ingest.lua"
STATUS_LUA = BENCH_DIR / "status.lua"
# Server settings of every run (--server-env overrides): the per-credential rate limit (DESIGN 2.8, default
# 1,000 req/s per key or token) is off, since one key and one token carry the whole load here.
SERVER_DEFAULTS = {"HARBOR_RATE_LIMIT_PER_SECOND": "0"}
SERVER_CORE = "0"
CLIENT_CORE = "1"
ALL_CORES = f"0-{(os.cpu_count() or 1) - 1}"
CLK_TCK = os.sysconf("SC_CLK_TCK")
VEHICLES = 50
PHASES = ("status", "ingest", "batch")


def fleet_ids() -> dict[str, str]:
    """New fleet ids for the phases: any database will do."""
    return {phase: f"bench-{phase}-{secrets.token_hex(3)}" for phase in PHASES}


FLEETS = fleet_ids()

TARGETS = {"status_rps": 10_000.0, "status_p99_ms": 5.0, "ingest_rps": 8_000.0, "batch_fixes_per_s": 50_000.0}
SIGNATURE_LIFETIME_S = 300  # the server refuses an X-Harbor-Timestamp further than this from its clock


def phase_fleets(phase: str, options: Options) -> list[str]:
    """The fleets a phase writes to: its own one, or with --fleets N (ingest, batch) N of them, "<id>-1" .. "<id>-N"."""
    count = 1 if phase == "status" else options.fleets
    return [FLEETS[phase]] if count == 1 else [f"{FLEETS[phase]}-{number}" for number in range(1, count + 1)]


class BenchError(Exception):
    """A benchmark could not run; the message says why."""


def say(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


# Options


@dataclass(frozen=True)
class Options:
    phases: tuple[str, ...]
    duration: int
    connections: int
    warmup: int
    database_url: str | None
    admin_url: str
    ingest_bodies: int | None
    batch_bodies: int | None
    batch_size: int
    workers: int
    fleets: int
    server_env: dict[str, str]
    keep_files: bool


def parse_options(argv: list[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(description="harbor-fleet benchmarks (see bench/README.md)")
    parser.add_argument("phase", nargs="?", default="all", choices=[*PHASES, "all"])
    parser.add_argument("--duration", type=int, default=10, help="seconds per measured run (default 10)")
    parser.add_argument("--connections", type=int, default=50, help="concurrent connections (default 50)")
    parser.add_argument("--warmup", type=int, default=2, help="seconds of unmeasured status load first (default 2)")
    parser.add_argument("--database-url", help="use this database as is (default: create bench_<random>, drop it)")
    parser.add_argument(
        "--admin-url",
        default="postgresql://postgres@127.0.0.1:5432/postgres",
        help="where to create and drop the bench_* database",
    )
    parser.add_argument("--ingest-bodies", type=int, help="pre-signed single-fix requests (default 15000 per second)")
    parser.add_argument("--batch-bodies", type=int, help="pre-signed batch requests (default 100 per second)")
    parser.add_argument("--batch-size", type=int, default=1000, help="fixes per batch request (default 1000)")
    parser.add_argument("--workers", type=int, default=1, help="server worker processes (default 1)")
    parser.add_argument(
        "--fleets", type=int, default=1, help="fleets the ingest and batch requests are spread over (default 1)"
    )
    parser.add_argument(
        "--server-env", action="append", default=[], metavar="NAME=VALUE", help="extra server setting (repeatable)"
    )
    parser.add_argument("--keep-files", action="store_true", help="keep the pre-signed request files")
    args = parser.parse_args(argv)
    if min(args.duration, args.connections, args.workers, args.fleets) < 1:
        parser.error("--duration, --connections, --workers and --fleets must be at least 1")
    if not 1 <= args.batch_size <= 1000:
        parser.error("--batch-size must be 1..1000 (the ingest contract's limit)")
    return Options(
        phases=PHASES if args.phase == "all" else (args.phase,),
        duration=args.duration,
        connections=args.connections,
        warmup=args.warmup,
        database_url=args.database_url,
        admin_url=args.admin_url,
        ingest_bodies=args.ingest_bodies,
        batch_bodies=args.batch_bodies,
        batch_size=args.batch_size,
        workers=args.workers,
        fleets=args.fleets,
        server_env={**SERVER_DEFAULTS, **dict(_name_value(item, parser) for item in args.server_env)},
        keep_files=args.keep_files,
    )


def _name_value(item: str, parser: argparse.ArgumentParser) -> tuple[str, str]:
    name, sep, value = item.partition("=")
    if not sep or not name:
        parser.error(f"--server-env wants NAME=VALUE, got {item!r}")
    return name, value


# Database


@contextlib.contextmanager
def bench_database(options: Options) -> Iterator[str]:
    """The database URL to run against: the one given, or a fresh bench_<random> dropped afterwards."""
    if options.database_url:
        yield options.database_url
        return
    name = f"bench_{secrets.token_hex(4)}"
    with psycopg.connect(options.admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    say(f"created database {name}")
    try:
        yield urlsplit(options.admin_url)._replace(path=f"/{name}").geturl()
    finally:
        with psycopg.connect(options.admin_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        say(f"dropped database {name}")


def stored_fixes(database_url: str, *fleet_ids: str) -> int:
    """The fixes stored for these fleets, summed."""
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT count(*) FROM fixes WHERE fleet_id = ANY(%s)", (list(fleet_ids),)).fetchone()
    return int(row[0]) if row else 0


def settled_fixes(database_url: str, *fleet_ids: str, deadline_s: float = 30.0) -> int:
    """The fleets' stored fixes once the requests still in flight when the generator stopped are done
    (the count is unchanged for a second), so that their work does not spill into the next phase."""
    deadline, last = time.monotonic() + deadline_s, -1
    while time.monotonic() < deadline:
        count = stored_fixes(database_url, *fleet_ids)
        if count == last:
            return count
        last = count
        time.sleep(1.0)
    say(f"WARNING: fleet(s) {', '.join(fleet_ids)} still storing fixes {deadline_s:.0f} s after the run")
    return last


# CPU accounting from /proc


def _proc_stat(pid: int) -> tuple[str, float, float] | None:
    """(name, utime + stime, cutime + cstime) of one process in seconds, the latter its children's that exited and
    were waited for (PostgreSQL's backends and autovacuum workers, for the postmaster); None when it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    name, fields = stat[stat.index("(") + 1 : stat.rindex(")")], stat[stat.rindex(")") + 1 :].split()
    own, children = int(fields[11]) + int(fields[12]), int(fields[13]) + int(fields[14])  # fields 14-17 of stat
    return name, own / CLK_TCK, children / CLK_TCK


def _proc_cpu_seconds(pid: int) -> float:
    """utime + stime of one process (seconds); 0 when it is gone."""
    found = _proc_stat(pid)
    return found[1] if found else 0.0


def _children(pid: int) -> list[int]:
    found: list[int] = []
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            found.extend(int(child) for child in (task / "children").read_text().split())
    return found


def tree_pids(pid: int) -> list[int]:
    """A process and all its descendants (uvicorn workers, when --workers > 1)."""
    found, pending = [], [pid]
    while pending:
        found.append(current := pending.pop())
        pending.extend(_children(current))
    return found


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds of a process and all its descendants."""
    return sum(_proc_cpu_seconds(current) for current in tree_pids(pid))


def process_cpu() -> dict[int, tuple[str, float]]:
    """(name, CPU seconds) of every process on the machine, with its exited children's (short-lived PostgreSQL
    processes show up in the postmaster's; the difference of two readings counts them)."""
    usage: dict[int, tuple[str, float]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (found := _proc_stat(int(entry.name))):
            usage[int(entry.name)] = (found[0], found[1] + found[2])
    return usage


def postgres_cpu(usage: dict[int, tuple[str, float]] | None = None) -> dict[int, float]:
    """CPU seconds of every process named postgres on the machine (the server is shared)."""
    return {pid: cpu for pid, (name, cpu) in (process_cpu() if usage is None else usage).items() if name == "postgres"}


def interrupt_seconds() -> float:
    """irq + softirq time of all cores since boot (loopback TCP is processed there). With tick-based accounting
    it is also charged to the process that was running, so it is part of the other figures, not beside them."""
    values = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]  # user nice system idle iowait irq softirq
    return (int(values[5]) + int(values[6])) / CLK_TCK


def core_jiffies() -> dict[str, tuple[int, int]]:
    """(busy, total) jiffies of each core from /proc/stat."""
    cores: dict[str, tuple[int, int]] = {}
    for line in Path("/proc/stat").read_text().splitlines():
        name, *values = line.split()
        if name.startswith("cpu") and name != "cpu":
            numbers = [int(value) for value in values[:8]]  # user nice system idle iowait irq softirq steal
            cores[name[3:]] = (sum(numbers) - numbers[3] - numbers[4], sum(numbers))
    return cores


def core_busy(before: dict[str, tuple[int, int]], after: dict[str, tuple[int, int]]) -> dict[str, tuple[float, float]]:
    """Per core, (busy seconds, busy share) between two core_jiffies() readings: any process, and interrupts."""
    busy: dict[str, tuple[float, float]] = {}
    for core, (busy_after, total_after) in after.items():
        busy_before, total_before = before.get(core, (0, 0))
        jiffies = busy_after - busy_before
        busy[core] = (jiffies / CLK_TCK, jiffies / max(1, total_after - total_before))
    return busy


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def connections_by_process(pids: Iterable[int], port: int) -> dict[int, int]:
    """Established TCP connections to `port` each process holds (its sockets matched to /proc/net/tcp by inode)."""
    established: set[str] = set()
    with contextlib.suppress(OSError):
        for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "01":
                established.add(f"socket:[{fields[9]}]")
    counts: dict[int, int] = {}
    for pid in pids:
        with contextlib.suppress(OSError):
            counts[pid] = sum(os.readlink(fd) in established for fd in Path(f"/proc/{pid}/fd").iterdir())
    return counts


# The server


def placement(workers: int) -> tuple[str, str]:
    """taskset cores of the server and of the load generator: one worker on core 0 and the generator on core 1;
    two or more workers on every core (two on one core would measure the core, not the scaling), and the
    generator then on every core too (the scheduler places it, and PostgreSQL, beside the workers)."""
    return (SERVER_CORE, CLIENT_CORE) if workers == 1 else (ALL_CORES, ALL_CORES)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    port: int
    log_path: Path
    env: dict[str, str]
    workers: int = 1
    stopped: str = "still running"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def cores(self) -> str:
        return placement(self.workers)[0]

    @property
    def client_cores(self) -> str:
        return placement(self.workers)[1]

    def cpu_seconds(self) -> float:
        return tree_cpu_seconds(self.process.pid)

    def worker_pids(self) -> list[int]:
        """The processes that serve requests: the server itself, or uvicorn's spawned workers."""
        if self.workers == 1:
            return [self.process.pid]
        with contextlib.suppress(OSError):
            children = _children(self.process.pid)
            return [pid for pid in children if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()]
        return []

    def check_alive(self) -> None:
        if self.process.poll() is not None:
            raise BenchError(f"the server exited with code {self.process.returncode}")

    def stop(self, timeout: float = 20.0) -> str:
        """SIGTERM, then wait (SIGKILL after `timeout`); how it went, in words."""
        if self.process.poll() is not None:
            return f"the server had already exited with code {self.process.returncode}"
        started = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            return f"the server did not stop within {timeout:.0f} s of SIGTERM and was killed"
        code = self.process.returncode
        how = "SIGTERM re-raised after shutdown" if code == -signal.SIGTERM else f"exit code {code}"
        return f"server stopped {time.monotonic() - started:.2f} s after SIGTERM ({how})"


@contextlib.contextmanager
def running_server(database_url: str, options: Options, workdir: Path, cores: str | None = None) -> Iterator[Server]:
    env = {
        **os.environ,
        "HARBOR_DATABASE_URL": database_url,
        "HARBOR_DATA_DIR": str(workdir / "data"),
        **options.server_env,
    }
    port = free_port()
    log_path = workdir / "server.log"
    cores = cores or placement(options.workers)[0]
    command = ["taskset", "-c", cores, str(HARBOR), "serve", "--port", str(port), "--workers", str(options.workers)]
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=workdir)
    server = Server(process, port, log_path, env, options.workers)
    try:
        wait_healthy(server, deadline_s=60.0)
        say(f"server pid {process.pid} up on port {port} (cores {cores}, {options.workers} worker(s)), log {log_path}")
        yield server
    finally:
        server.stopped = server.stop()
        say(server.stopped)


def wait_healthy(server: Server, deadline_s: float) -> None:
    """/health answers 200 and, with several workers, each has logged its start-up (one answering is not all)."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        server.check_alive()
        with contextlib.suppress(OSError), urllib.request.urlopen(f"{server.base_url}/health", timeout=2) as answer:
            started = server.log_path.read_text(errors="replace").count("Application startup complete.")
            if answer.status == 200 and (server.workers == 1 or started >= server.workers):
                return
        time.sleep(0.2)
    raise BenchError(
        f"the server's {server.workers} worker(s) did not all answer or log their start-up (at log level info) "
        f"within {deadline_s:.0f} s"
    )


def cli(server: Server, *args: str) -> dict[str, str]:
    """Run a harbor-fleet command with --json against the server's database; its JSON object."""
    done = subprocess.run(
        [str(HARBOR), *args, "--json"], env=server.env, capture_output=True, text=True, timeout=120, check=False
    )
    if done.returncode != 0:
        raise BenchError(f"harbor-fleet {' '.join(args)} failed ({done.returncode}): {done.stderr.strip()}")
    result: dict[str, str] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


@dataclass(frozen=True)
class Credentials:
    key_id: str
    secret: str
    token: str


def create_fleets(server: Server, options: Options) -> Credentials:
    """The phases' fleets, and one key and one token allowed for all of them."""
    fleets = [fleet_id for phase in options.phases for fleet_id in phase_fleets(phase, options)]
    for fleet_id in fleets:
        cli(server, "fleet", "create", fleet_id)
    fleet_flags = [flag for fleet_id in fleets for flag in ("--fleet", fleet_id)]
    key = cli(server, "key", "create", *fleet_flags)
    token = cli(server, "token", "create", *fleet_flags)
    return Credentials(key["key_id"], key["secret"], token["token"])


# Request bodies


def sign(secret: str, timestamp: str, body: bytes) -> str:
    return hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


@lru_cache(maxsize=4096)
def _utc_seconds(seconds: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))


def rfc3339(micros: int) -> str:
    return f"{_utc_seconds(micros // 1_000_000)}.{micros % 1_000_000:06d}Z"


def fixes_json(first: int, count: int, start_micros: int) -> Iterator[str]:
    """Fixes number first..first+count-1: vehicle v(n % 50), recorded_at start + n // 50 µs.

    No two fixes share (vehicle, recorded_at), so none is a duplicate of another.
    """
    for n in range(first, first + count):
        vehicle, step = n % VEHICLES, n // VEHICLES
        lat, lng = 52.0 + (step % 1000) * 1e-4, 4.0 + vehicle * 1e-3
        recorded_at = rfc3339(start_micros + step)
        yield f'{{"vehicle_id":"v{vehicle}","lat":{lat:.6f},"lng":{lng:.6f},"recorded_at":"{recorded_at}"}}'


def bodies(count: int, fixes_per_body: int) -> Iterator[bytes]:
    """`count` ingest bodies, every fix unique, recorded within the last minute."""
    start = int(time.time() * 1_000_000) - 55_000_000
    for index in range(count):
        fixes = ",".join(fixes_json(index * fixes_per_body, fixes_per_body, start))
        yield f'{{"fixes":[{fixes}]}}'.encode()


def write_requests(path: Path, secret: str, payloads: Iterable[bytes], targets: Sequence[str]) -> int:
    """Sign each body with the current time; one "ts<TAB>signature<TAB>body<TAB>request path" line each (for
    ingest.lua), the paths taken from `targets` in turn (the signature does not cover the path)."""
    timestamp = str(int(time.time()))
    written = 0
    with path.open("wb") as out:
        for body in payloads:
            target = targets[written % len(targets)]
            out.write(f"{timestamp}\t{sign(secret, timestamp, body)}\t".encode() + body + f"\t{target}\n".encode())
            written += 1
    return written


def post_signed(server: Server, credentials: Credentials, fleet_id: str, body: bytes) -> dict[str, int]:
    timestamp = str(int(time.time()))
    request = urllib.request.Request(
        f"{server.base_url}/api/v1/fleets/{fleet_id}/positions",
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "X-Harbor-Key": credentials.key_id,
            "X-Harbor-Timestamp": timestamp,
            "X-Harbor-Signature": f"v1={sign(credentials.secret, timestamp, body)}",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            result: dict[str, int] = json.loads(answer.read())
            if answer.status != 202:
                raise BenchError(f"seeding {fleet_id}: expected 202, got {answer.status} {result}")
            return result
    except urllib.error.HTTPError as error:
        raise BenchError(f"seeding {fleet_id}: {error.code} {error.read()[:300]!r}") from error


# Load generators


_UNITS_MS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


@dataclass
class Run:
    """One load-generator run: its figures, and the CPU the server (and the generator) used meanwhile."""

    tool: str
    output: str
    wall_s: float
    server_cpu_s: float
    generator_cpu_s: float
    postgres_cpu_s: float
    core_busy: dict[str, tuple[float, float]]
    interrupts_cpu_s: float = 0.0
    others: dict[str, float] = field(default_factory=dict)  # CPU seconds of other processes, by name
    worker_cpu_s: dict[int, float] = field(default_factory=dict)
    worker_connections: dict[int, int] = field(default_factory=dict)
    requests: int = 0
    seconds: float = 0.0
    rps: float = 0.0
    latency_ms: dict[str, float] = field(default_factory=dict)
    codes: dict[int, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    extra: dict[str, int] = field(default_factory=dict)
    samples: list[str] = field(default_factory=list)

    @property
    def non_2xx(self) -> int:
        return sum(count for code, count in self.codes.items() if not 200 <= code < 300)

    @property
    def other_cpu_s(self) -> float:
        """Busy CPU time on the machine not accounted to the server, the generator or PostgreSQL."""
        busy = sum(seconds for seconds, _ in self.core_busy.values())
        return busy - self.server_cpu_s - self.generator_cpu_s - self.postgres_cpu_s


def per_thousand(cpu_s: float, count: float) -> float:
    """CPU seconds per 1,000 requests (or fixes); numerically the milliseconds per one."""
    return 1000.0 * cpu_s / count if count else math.nan


def measured(server: Server, tool: str, command: list[str], timeout: float) -> Run:
    """Run a load generator on the client core(s), with the CPU of the server (and of each worker) and of PostgreSQL
    around it. The connections each worker holds are counted once, a second into the run."""
    server.check_alive()
    workers = server.worker_pids()
    workers_before = {pid: _proc_cpu_seconds(pid) for pid in workers}
    server_before, all_before, gen_before = server.cpu_seconds(), process_cpu(), children_cpu_seconds()
    cores_before, irq_before = core_jiffies(), interrupt_seconds()
    started = time.monotonic()
    command = ["taskset", "-c", server.client_cores, *command]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(1.0)  # the generator opens its connections at once; they stay open (keep-alive)
        connections = connections_by_process(workers, server.port)
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        raise
    wall = time.monotonic() - started
    server_after, all_after, gen_after = server.cpu_seconds(), process_cpu(), children_cpu_seconds()
    busy, interrupts = core_busy(cores_before, core_jiffies()), interrupt_seconds() - irq_before
    if process.returncode != 0:
        raise BenchError(f"{tool} failed ({process.returncode}): {stderr.strip() or stdout.strip()}")
    server.check_alive()
    spent = {pid: (name, cpu - all_before.get(pid, (name, 0.0))[1]) for pid, (name, cpu) in all_after.items()}
    pg = sum(postgres_cpu(spent).values())
    run = Run(tool, stdout, wall, server_after - server_before, gen_after - gen_before, pg, busy, interrupts)
    not_other = {*tree_pids(server.process.pid), os.getpid()}  # this process's own CPU includes the generator's
    for pid, (name, cpu) in spent.items():
        if pid not in not_other and name != "postgres" and cpu > 0:
            run.others[name] = run.others.get(name, 0.0) + cpu
    run.worker_cpu_s = {pid: _proc_cpu_seconds(pid) - before for pid, before in workers_before.items()}
    run.worker_connections = connections
    return run


def wrk(server: Server, path: str, options: Options, duration: int, flags: list[str], script_args: list[str]) -> Run:
    """`wrk -t1 -c<connections>` for `duration` seconds; script_args go to the Lua script's init()."""
    command = ["wrk", "-t1", f"-c{options.connections}", f"-d{duration}s", "--latency", "--timeout", "10s", *flags]
    command += [f"{server.base_url}{path}", *(["--", *script_args] if script_args else [])]
    return parse_wrk(measured(server, "wrk", command, duration + 60))


def _to_ms(value: str, unit: str) -> float:
    return float(value) * _UNITS_MS[unit]


def parse_wrk(run: Run) -> Run:
    text = run.output
    total = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m),", text)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", text)
    if not total or not rps:
        raise BenchError(f"cannot read wrk's output:\n{text}")
    run.requests, run.seconds, run.rps = int(total[1]), _to_ms(total[2], total[3]) / 1000, float(rps[1])
    for pct, value, unit in re.findall(r"^\s+(50|75|90|99)%\s+([\d.]+)(us|ms|s|m)\s*$", text, re.M):
        run.latency_ms[f"p{pct}"] = _to_ms(value, unit)
    if errors := re.search(r"Socket errors: (.+)", text):
        run.errors.append(f"socket errors: {errors[1]}")
    for name, value in re.findall(r"^harbor-bench (\S+) (.*)$", text, re.M):
        if name.startswith("code:"):
            run.codes[int(name[5:])] = int(value)
        elif name == "sample":
            run.samples.append(value)
        else:
            run.extra[name] = int(value)
    return run


def hey(server: Server, path: str, options: Options, rate: float, headers: list[str]) -> Run:
    per_worker = rate / options.connections
    command = ["hey", "-z", f"{options.duration}s", "-c", str(options.connections), "-q", f"{per_worker:.3f}"]
    for header in headers:
        command += ["-H", header]
    run = measured(server, "hey", [*command, f"{server.base_url}{path}"], options.duration + 60)
    return parse_hey(run)


def parse_hey(run: Run) -> Run:
    text = run.output
    rps, total = re.search(r"Requests/sec:\s+([\d.]+)", text), re.search(r"Total:\s+([\d.]+) secs", text)
    if not rps or not total:
        raise BenchError(f"cannot read hey's output:\n{text}")
    run.rps, run.seconds = float(rps[1]), float(total[1])
    for pct, secs in re.findall(r"^\s+(\d+)% in ([\d.]+) secs", text, re.M):
        run.latency_ms[f"p{pct}"] = float(secs) * 1000
    for code, count in re.findall(r"^\s+\[(\d+)\]\s+(\d+) responses", text, re.M):
        run.codes[int(code)] = int(count)
    if "Error distribution:" in text:
        run.errors += [line.strip() for line in text.split("Error distribution:", 1)[1].splitlines() if line.strip()]
    run.requests = sum(run.codes.values())
    return run


# Phases


@dataclass
class Phase:
    name: str
    runs: dict[str, Run] = field(default_factory=dict)
    figures: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def status_phase(server: Server, credentials: Credentials, options: Options) -> Phase:
    phase = Phase("status")
    fleet_id = FLEETS["status"]
    seeded = post_signed(server, credentials, fleet_id, next(bodies(1, VEHICLES)))
    if seeded.get("accepted") != VEHICLES:
        raise BenchError(f"seeding {fleet_id}: expected {VEHICLES} accepted, got {seeded}")
    path = f"/api/v1/fleets/{fleet_id}/status"
    auth = f"Authorization: Bearer {credentials.token}"
    flags = ["-H", auth, "-s", str(STATUS_LUA)]
    if options.warmup > 0:
        say(f"status: warm-up {options.warmup} s")
        wrk(server, path, options, options.warmup, flags, [])
    say(f"status: closed loop, wrk -c{options.connections} for {options.duration} s")
    closed = phase.runs["closed"] = wrk(server, path, options, options.duration, flags, [])
    phase.figures["rps"] = closed.rps
    rate = closed.rps / 2
    say(f"status: open loop, hey at {rate:.0f} req/s ({rate / options.connections:.2f}/s x {options.connections})")
    opened = phase.runs["open"] = hey(server, path, options, rate, [auth])
    phase.figures.update(offered_rps=rate, open_rps=opened.rps)
    phase.figures.update({f"open_{name}_ms": value for name, value in opened.latency_ms.items()})
    return phase


def default_pool(options: Options, given: int | None, per_second: int) -> int:
    return given if given is not None else max(1000, per_second * options.duration)


def ingest_phase(server: Server, credentials: Credentials, options: Options, workdir: Path, database_url: str) -> Phase:
    pool = default_pool(options, options.ingest_bodies, 15_000)
    return _signed_phase("ingest", server, credentials, options, workdir, database_url, pool, 1)


def batch_phase(server: Server, credentials: Credentials, options: Options, workdir: Path, database_url: str) -> Phase:
    pool = default_pool(options, options.batch_bodies, 100)
    return _signed_phase("batch", server, credentials, options, workdir, database_url, pool, options.batch_size)


WRITER_SERIES = ("harbor_writer_batch_size_count", "harbor_writer_batch_size_sum", "harbor_writer_commit_seconds_sum")


def writer_totals(server: Server) -> dict[str, float]:
    """The group-commit writers' running totals from /metrics (summed over workers): commits, fixes, seconds."""
    with urllib.request.urlopen(f"{server.base_url}/metrics", timeout=10) as answer:
        text = answer.read().decode()
    totals = dict.fromkeys(WRITER_SERIES, 0.0)
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if name in totals:
            totals[name] += float(value)
    return totals


def writer_figures(before: dict[str, float], after: dict[str, float], seconds: float) -> str:
    commits, fixes, busy = (after[name] - before[name] for name in WRITER_SERIES)
    if not commits:
        return "writer: no commits"
    return (
        f"writer: {commits:,.0f} commits ({commits / seconds:,.0f}/s), {fixes / commits:.1f} fixes per commit, "
        f"{1000 * busy / commits:.2f} ms per commit (the writers busy {busy / seconds:.0%} of the run)"
    )


def _signed_phase(
    name: str,
    server: Server,
    credentials: Credentials,
    options: Options,
    workdir: Path,
    database_url: str,
    pool: int,
    fixes_per_body: int,
) -> Phase:
    phase = Phase(name)
    fleets = phase_fleets(name, options)
    paths = [f"/api/v1/fleets/{fleet_id}/positions" for fleet_id in fleets]
    requests_file = workdir / f"{name}-requests.tsv"
    say(f"{name}: signing {pool} bodies of {fixes_per_body} fix(es) for {len(fleets)} fleet(s)")
    write_requests(requests_file, credentials.secret, bodies(pool, fixes_per_body), paths)
    size_mb = requests_file.stat().st_size / 1e6
    say(f"{name}: {requests_file.name} is {size_mb:.1f} MB; wrk -c{options.connections} for {options.duration} s")
    before, writer_before = stored_fixes(database_url, *fleets), writer_totals(server)
    script_args = [str(requests_file), credentials.key_id, "1"]  # each request's path comes from the file
    run = phase.runs["closed"] = wrk(server, paths[0], options, options.duration, ["-s", str(INGEST_LUA)], script_args)
    stored = stored_fixes(database_url, *fleets) - before  # committed while wrk ran
    settled = settled_fixes(database_url, *fleets) - before
    phase.notes.append(writer_figures(writer_before, writer_totals(server), run.wall_s))
    if not options.keep_files:
        requests_file.unlink()
    accepted = run.extra.get("accepted", 0)
    phase.figures.update(
        rps=run.rps,
        fixes_per_s=accepted / run.seconds if run.seconds else math.nan,
        stored=stored,
        stored_per_s=stored / run.seconds if run.seconds else math.nan,
        settled=settled,
    )
    phase.notes += sanity_notes(run, stored, settled, fixes_per_body, options.connections)
    return phase


def sanity_notes(run: Run, stored: int, settled: int, fixes_per_body: int, connections: int) -> list[str]:
    """stored: committed when wrk stopped; settled: once the requests in flight then were done."""
    notes: list[str] = []
    accepted, duplicates, wraps = (run.extra.get(name, 0) for name in ("accepted", "duplicates", "wraps"))
    if wraps:
        notes.append(
            f"WARNING: the {run.extra.get('pool', 0)} pre-signed bodies were cycled {wraps} time(s): later requests "
            "were duplicates; raise --ingest-bodies / --batch-bodies"
        )
    expected = run.codes.get(202, 0) * fixes_per_body
    if accepted + duplicates != expected:
        notes.append(f"WARNING: 202 answers cover {expected} fixes but report {accepted} accepted + {duplicates} dup")
    if duplicates and not wraps:
        notes.append(f"WARNING: {duplicates} duplicates although every body was unique")
    if stored < accepted:
        notes.append(f"FAILURE: {accepted} fixes acknowledged but only {stored} stored (acknowledged = durable)")
    if settled > stored:
        notes.append(
            f"note: {settled - stored} more fixes were stored after wrk stopped (its requests in flight then; "
            f"not counted in the rate), {settled} in all"
        )
    if settled - accepted > connections * fixes_per_body:
        notes.append(f"WARNING: {settled - accepted} fixes stored beyond the acknowledged, more than were in flight")
    return notes


# Report


def _fmt(value: float, digits: int = 0) -> str:
    return "n/a" if math.isnan(value) else f"{value:,.{digits}f}"


def _codes(run: Run) -> str:
    return ", ".join(f"{code}: {count}" for code, count in sorted(run.codes.items())) or "none"


def _cpu(run: Run, count: float | None = None, unit: str = "requests") -> list[str]:
    """CPU seconds of the run, and per 1,000 requests (or per 1,000 of `count` fixes); per worker when several."""
    count = run.requests if count is None else count
    cores = ", ".join(f"{core}: {share:.0%}" for core, (_, share) in sorted(run.core_busy.items()))
    used = {"server": run.server_cpu_s, run.tool: run.generator_cpu_s, "postgres": run.postgres_cpu_s}
    spent = ", ".join(f"{who} {cpu:.2f} ({_fmt(per_thousand(cpu, count), 3)})" for who, cpu in used.items())
    lines = [
        f"CPU s (per 1,000 {unit}): {spent}; server {run.server_cpu_s / (run.seconds or run.wall_s):.0%} of a core",
        f"other processes + interrupts {max(0.0, run.other_cpu_s):.2f} s{_others(run)}; cores busy {cores} "
        f"(irq + softirq {run.interrupts_cpu_s:.2f} s of it, in whichever process ran)",
    ]
    if len(run.worker_cpu_s) > 1:
        total = sum(run.worker_cpu_s.values()) or math.nan
        lines.append(
            "workers: "
            + "; ".join(
                f"pid {pid} {cpu:.2f} s ({cpu / total:.0%}, ~{run.requests * cpu / total:,.0f} requests by CPU share), "
                f"{run.worker_connections.get(pid, 0)} connections"
                for pid, cpu in sorted(run.worker_cpu_s.items())
            )
        )
    return lines


def _others(run: Run) -> str:
    top = sorted(run.others.items(), key=lambda item: -item[1])[:3]
    return f" (largest other processes: {', '.join(f'{name} {cpu:.2f}' for name, cpu in top)})" if top else ""


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def _latency(run: Run, *names: str) -> str:
    return ", ".join(f"{name} {_fmt(run.latency_ms.get(name, math.nan), 2)} ms" for name in names)


def report_status(phase: Phase, options: Options) -> list[str]:
    closed, opened = phase.runs["closed"], phase.runs["open"]
    return [
        f"status  GET /api/v1/fleets/{FLEETS['status']}/status ({VEHICLES} vehicles)",
        f"  closed loop  wrk -c{options.connections}: {_fmt(closed.rps, 1)} req/s over {closed.seconds:.2f} s "
        f"({closed.requests} requests; answers {_codes(closed)})",
        f"               saturated latency (Little's law, not the latency figure): {_latency(closed, 'p50', 'p99')}",
        *(f"               {line}" for line in _cpu(closed)),
        *(f"  non-200 sample: {sample}" for sample in closed.samples),
        f"  open loop    hey -c{options.connections} offered {_fmt(phase.figures['offered_rps'])} req/s "
        f"(half the maximum): achieved {_fmt(opened.rps, 1)} req/s, {_latency(opened, 'p50', 'p90', 'p99')} "
        f"(answers {_codes(opened)})",
        *(f"               {line}" for line in _cpu(opened)),
        *(f"  hey errors: {line}" for line in opened.errors[:5]),
    ]


def cpu_basis(run: Run, fixes_per_body: int) -> tuple[float, str]:
    """What CPU is counted per: requests, or with batches the fixes acknowledged."""
    return (run.requests, "requests") if fixes_per_body == 1 else (run.extra.get("accepted", 0), "fixes")


def report_signed(phase: Phase, options: Options, fixes_per_body: int) -> list[str]:
    run = phase.runs["closed"]
    what = "1 fix" if fixes_per_body == 1 else f"{fixes_per_body} fixes"
    fleets = phase_fleets(phase.name, options)
    where = fleets[0] if len(fleets) == 1 else f"{FLEETS[phase.name]}-{{1..{len(fleets)}}}"
    spread = "" if len(fleets) == 1 else f", spread over {len(fleets)} fleets in turn (counts are their sums)"
    return [
        f"{phase.name:<7} signed POST /api/v1/fleets/{where}/positions, {what} per request{spread}",
        f"  closed loop  wrk -c{options.connections}: {_fmt(run.rps, 1)} req/s over {run.seconds:.2f} s "
        f"({run.requests} requests; answers {_codes(run)})",
        f"               latency at saturation: {_latency(run, 'p50', 'p90', 'p99')}",
        f"               fixes acknowledged {run.extra.get('accepted', 0)} ({_fmt(phase.figures['fixes_per_s'])}/s), "
        f"duplicates {run.extra.get('duplicates', 0)}; stored in PostgreSQL {int(phase.figures['stored'])} "
        f"({_fmt(phase.figures['stored_per_s'])} fixes/s durable)",
        *(f"               {line}" for line in _cpu(run, *cpu_basis(run, fixes_per_body))),
        *(f"  {error}" for error in run.errors),
        *(f"  non-2xx sample: {sample}" for sample in run.samples),
        *(f"  {note}" for note in phase.notes),
    ]


def _target(label: str, shown: str, ok: bool) -> str:
    return f"  {label:<48} {shown:>16}  {_verdict(ok)}"


def targets(phases: dict[str, Phase]) -> list[str]:
    lines = []
    if status := phases.get("status"):
        rps, p99 = status.figures["rps"], status.figures.get("open_p99_ms", math.nan)
        ok = rps >= TARGETS["status_rps"] and not status.runs["closed"].non_2xx
        lines.append(_target("status >= 10,000 req/s (all 200)", f"{_fmt(rps)} req/s", ok))
        lines.append(_target("status p99 < 5 ms at half load", f"{_fmt(p99, 2)} ms", p99 < TARGETS["status_p99_ms"]))
    if ingest := phases.get("ingest"):
        rps, clean = ingest.figures["rps"], not ingest.runs["closed"].non_2xx
        ok = rps >= TARGETS["ingest_rps"] and clean
        lines.append(_target("signed single-fix ingest >= 8,000 req/s (all 202)", f"{_fmt(rps)} req/s", ok))
    if batch := phases.get("batch"):
        rate = batch.figures["stored_per_s"]
        ok = rate >= TARGETS["batch_fixes_per_s"]
        lines.append(_target("batch >= 50,000 fixes/s durable", f"{_fmt(rate)} fixes/s", ok))
    return lines


def summary(phases: dict[str, Phase], options: Options, server: Server, database_url: str) -> str:
    lines = [
        "",
        "==================== harbor-fleet benchmark ====================",
        f"placement: server `taskset -c {server.cores}` (pid {server.process.pid}, {options.workers} worker(s)"
        f"{'' if server.workers == 1 else ', sharing every core with wrk/hey and PostgreSQL'}); "
        f"wrk/hey `taskset -c {server.client_cores}`; PostgreSQL unpinned (every core); {os.cpu_count()} cores",
        f"database:  {urlsplit(database_url).path.lstrip('/')} on {urlsplit(database_url).hostname}; "
        f"{options.duration} s per run, {options.connections} connections; ingest and batch over {options.fleets} "
        f"fleet(s)",
        f"server settings: {' '.join(f'{name}={value}' for name, value in sorted(options.server_env.items()))}",
        "CPU: server = utime+stime of the server process tree from /proc during the run; postgres = every postgres "
        "process on the machine (and those the postmaster reaped); in brackets per 1,000 requests (or fixes)",
        "",
    ]
    if "status" in phases:
        lines += [*report_status(phases["status"], options), ""]
    if "ingest" in phases:
        lines += [*report_signed(phases["ingest"], options, 1), ""]
    if "batch" in phases:
        lines += [*report_signed(phases["batch"], options, options.batch_size), ""]
    lines += ["targets:", *targets(phases), "", f"server log: {server.log_path}", "=" * 64]
    return "\n".join(lines)


def log_problems(log_path: Path) -> list[str]:
    """Server log lines at warning level or worse, and tracebacks."""
    problems = []
    with contextlib.suppress(OSError):
        for line in log_path.read_text(errors="replace").splitlines():
            if re.search(r'"level": "(warning|error|critical)"|Traceback|\b5\d\d\b', line):
                problems.append(line[:400])
    return problems


def tail(path: Path, lines: int = 30) -> str:
    with contextlib.suppress(OSError):
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    return "(no log)"


# Main


PhaseRunner = Callable[[Server, Credentials, Options, Path, str], Phase]


def run_phases(server: Server, options: Options, workdir: Path, database_url: str) -> dict[str, Phase]:
    credentials = create_fleets(server, options)
    runners: dict[str, PhaseRunner] = {
        "status": lambda s, c, o, _w, _d: status_phase(s, c, o),
        "ingest": ingest_phase,
        "batch": batch_phase,
    }
    return {name: runners[name](server, credentials, options, workdir, database_url) for name in options.phases}


def check_tools() -> None:
    missing = [tool for tool in ("wrk", "hey", "taskset") if shutil.which(tool) is None]
    if missing or not HARBOR.exists():
        raise BenchError(f"missing: {', '.join(missing + ([str(HARBOR)] if not HARBOR.exists() else []))}")
    if (os.cpu_count() or 1) < 2:
        raise BenchError("needs at least 2 cores (server on core 0, load generator on core 1)")


def bench(options: Options) -> dict[str, Phase]:
    """One benchmark: database, server, phases; prints the summary and how the server stopped."""
    if options.duration + 30 > SIGNATURE_LIFETIME_S:
        say(f"WARNING: pre-signed timestamps go stale after {SIGNATURE_LIFETIME_S} s; long runs will get 401s")
    workdir = Path(tempfile.mkdtemp(prefix="harbor-bench-"))
    server: Server | None = None
    try:
        with bench_database(options) as database_url, running_server(database_url, options, workdir) as server:
            phases = run_phases(server, options, workdir, database_url)
            print(summary(phases, options, server, database_url), flush=True)
    except (BenchError, psycopg.Error, subprocess.TimeoutExpired) as error:
        where = f"server log: {server.log_path}\n--- last lines ---\n{tail(server.log_path)}" if server else ""
        raise BenchError(f"{error}\n{where or f'work folder: {workdir}'}") from error
    print(server.stopped)
    problems = log_problems(server.log_path)
    print(f"server log: {len(problems)} line(s) at warning level or above (or tracebacks)")
    for line in problems[:20]:
        print(f"  {line}")
    return phases


def main(argv: list[str] | None = None) -> int:
    options = parse_options(argv)
    try:
        check_tools()
        bench(options)
        return 0
    except BenchError as error:
        print(f"bench failed: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
