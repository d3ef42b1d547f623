"""Overload benchmark: shed rate, latency of accepted requests and peak memory at 5x the sustainable load.

    .venv/bin/python bench/overload.py [--factor 5] [--duration 10] [--batch-size 1000] [--json]

The server runs pinned to core 0 (run.py's `running_server`), this process (the load generator) pins itself
to core 1, PostgreSQL is not pinned. First a closed loop of 50 keep-alive connections sending signed batches
measures the sustainable durable ingest rate (fixes/s); then an open loop offers `--factor` times that rate
for `--duration` seconds on a fixed schedule, whatever the answers, with at most `--max-in-flight` requests
outstanding (a request the cap holds back is not sent, and counted). What each figure means: bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import psutil  # type: ignore[import-untyped]
import psycopg
import uvloop

import run as shared
from harbor_fleet.settings import Settings

# The closed loop's connections: as run.py's wrk -c50, but never more batches than the writer may hold
# waiting (HARBOR_WRITER_MAX_PENDING_FIXES), or the closed loop itself is shed and measures nothing.
SUSTAIN_CONNECTIONS = 50
# uvicorn closes a keep-alive connection idle for 5 s: one idle longer than this is not reused (a request
# written as the server closes it would be lost to a race, not to load).
IDLE_REUSE_S = 3.0
RSS_INTERVAL_S = 0.1
BASELINE_S = 1.0  # RSS sampled this long, idle, before the open loop starts
# The settings that decide how the server sheds ingest, printed with every run.
SHOWN_SETTINGS = (
    "writer_max_pending_fixes",
    "writer_max_batch_fixes",
    "max_connections",
    "rate_limit_per_second",
    "db_pool_size",
    "request_timeout",
    "workers",
)


def say(message: str) -> None:
    print(f"[overload] {message}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Args:
    factor: float
    duration: float
    batch_size: int
    max_in_flight: int
    sustain_seconds: float
    sustainable: float | None
    drain_seconds: float
    json: bool
    options: shared.Options


def parse_args(argv: list[str] | None = None) -> Args:
    parser = argparse.ArgumentParser(description="harbor-fleet overload benchmark (see bench/README.md)")
    parser.add_argument("--factor", type=float, default=5.0, help="offered load / sustainable rate (default 5)")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of open-loop load (default 10)")
    parser.add_argument("--batch-size", type=int, default=1000, help="fixes per request (default 1000)")
    parser.add_argument("--max-in-flight", type=int, default=2000, help="outstanding requests at most (default 2000)")
    parser.add_argument(
        "--sustain-seconds", type=float, default=5.0, help="seconds of closed loop to measure the sustainable rate"
    )
    parser.add_argument("--sustainable", type=float, help="skip that measurement: the sustainable rate, fixes/s")
    parser.add_argument("--drain-seconds", type=float, default=60.0, help="wait for answers after the load (60)")
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout (report on stderr)")
    parser.add_argument("--database-url", help="use this database as is (default: create bench_<random>, drop it)")
    parser.add_argument("--admin-url", help="where to create and drop the bench_* database (run.py's default)")
    parser.add_argument(
        "--server-env", action="append", default=[], metavar="NAME=VALUE", help="extra server setting (repeatable)"
    )
    args = parser.parse_args(argv)
    if args.factor <= 0 or args.duration <= 0 or args.max_in_flight < 1 or args.sustain_seconds <= 0:
        parser.error("--factor, --duration, --sustain-seconds and --max-in-flight must be positive")
    if args.duration + args.drain_seconds + 30 > shared.SIGNATURE_LIFETIME_S:
        parser.error(f"--duration + --drain-seconds must leave the {shared.SIGNATURE_LIFETIME_S} s signature window")
    # run.py's options: database, server settings (the rate limit off), batch size checks.
    passed = ["batch", "--batch-size", str(args.batch_size)]
    passed += [flag for item in args.server_env for flag in ("--server-env", item)]
    passed += ["--database-url", args.database_url] if args.database_url else []
    passed += ["--admin-url", args.admin_url] if args.admin_url else []
    return Args(
        factor=args.factor,
        duration=args.duration,
        batch_size=args.batch_size,
        max_in_flight=args.max_in_flight,
        sustain_seconds=args.sustain_seconds,
        sustainable=args.sustainable,
        drain_seconds=args.drain_seconds,
        json=args.json,
        options=shared.parse_options(passed),
    )


def effective_settings(server: shared.Server) -> dict[str, object]:
    """The server's settings as it reads them (its environment: ours plus run.py's and --server-env's)."""
    given = {name[7:].lower(): value for name, value in server.env.items() if name.startswith("HARBOR_")}
    settings = Settings(**given)  # type: ignore[arg-type]
    return {name: getattr(settings, name) for name in SHOWN_SETTINGS}


# A small HTTP/1.1 client on asyncio streams: keep-alive connections, one request at a time on each.


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


async def read_answer(reader: asyncio.StreamReader) -> Answer:
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
    status = int(head[0].split(" ", 2)[1])
    headers: dict[str, str] = {}
    for line in head[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    if "content-length" in headers:
        body = await reader.readexactly(int(headers["content-length"]))
    elif headers.get("transfer-encoding", "").lower() == "chunked":
        chunks = []
        while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
            chunks.append(await reader.readexactly(size + 2))
        await reader.readuntil(b"\r\n")  # the empty trailer
        body = b"".join(chunk[:-2] for chunk in chunks)
    else:
        body, headers["connection"] = await reader.read(), "close"
    return Answer(status, headers, body)


class Connections:
    """Keep-alive connections to the server: a request takes the most recently used idle one or opens one."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.idle: list[tuple[float, asyncio.StreamReader, asyncio.StreamWriter]] = []
        self.opened = 0

    async def _take(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        while self.idle:
            since, reader, writer = self.idle.pop()
            if time.monotonic() - since < IDLE_REUSE_S:
                return reader, writer
            writer.close()
        self.opened += 1
        return await asyncio.open_connection("127.0.0.1", self.port)

    async def request(self, head: bytes, body: bytes) -> Answer:
        reader, writer = await self._take()
        try:
            writer.writelines((head, body))
            await writer.drain()
            answer = await read_answer(reader)
        except BaseException:
            writer.close()
            raise
        if answer.headers.get("connection", "").lower() == "close":
            writer.close()
        else:
            self.idle.append((time.monotonic(), reader, writer))
        return answer

    def close(self) -> None:
        for _, _, writer in self.idle:
            writer.close()
        self.idle.clear()


@dataclass(frozen=True)
class Target:
    port: int
    fleet_id: str
    credentials: shared.Credentials

    def head(self, body: bytes) -> bytes:
        """The request's head, signed now (DESIGN 2.1)."""
        timestamp = str(int(time.time()))
        return (
            f"POST /api/v1/fleets/{self.fleet_id}/positions HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
            f"X-Harbor-Key: {self.credentials.key_id}\r\nX-Harbor-Timestamp: {timestamp}\r\n"
            f"X-Harbor-Signature: v1={shared.sign(self.credentials.secret, timestamp, body)}\r\n\r\n"
        ).encode()


# What came back


@dataclass
class Tally:
    answers: Counter[str] = field(default_factory=Counter)  # "202", "503 overloaded", "429 rate_limited", ...
    accepted: int = 0
    duplicates: int = 0
    latencies_ms: list[float] = field(default_factory=list)  # 202 answers only
    without_retry_after: int = 0  # 503 / 429 answers missing Retry-After
    failures: Counter[str] = field(default_factory=Counter)  # no answer: the exception
    unanswered_fixes: int = 0
    samples: list[str] = field(default_factory=list)
    last_answer: float = 0.0

    def record(self, answer: Answer, latency_s: float) -> None:
        self.last_answer = time.monotonic()
        if answer.status == 202:
            counts = json.loads(answer.body)
            self.accepted += counts["accepted"]
            self.duplicates += counts["duplicates"]
            self.latencies_ms.append(latency_s * 1000)
            self.answers["202"] += 1
            return
        code = "?"
        with contextlib.suppress(ValueError, KeyError, TypeError):
            code = json.loads(answer.body)["error"]["code"]
        self.answers[f"{answer.status} {code}"] += 1
        if answer.status in (429, 503) and "retry-after" not in answer.headers:
            self.without_retry_after += 1
        if answer.status not in (429, 503) and len(self.samples) < 5:
            self.samples.append(f"{answer.status} {answer.body[:300]!r}")

    def failed(self, error: BaseException, fixes: int) -> None:
        self.failures[type(error).__name__ if not str(error) else f"{type(error).__name__}: {error}"[:120]] += 1
        self.unanswered_fixes += fixes

    def count(self, prefix: str) -> int:
        return sum(count for name, count in self.answers.items() if name.startswith(prefix))


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))] if ordered else math.nan


def latency_figures(values: list[float]) -> dict[str, float]:
    figures = {f"p{round(share * 100)}": percentile(values, share) for share in (0.5, 0.9, 0.99)}
    figures["max"] = max(values, default=math.nan)
    return figures


# CPU and memory


@dataclass
class Usage:
    """CPU used between start() and stop(): the server's process tree, every postgres process, this process."""

    server: shared.Server
    wall_s: float = 0.0
    server_cpu_s: float = 0.0
    postgres_cpu_s: float = 0.0
    generator_cpu_s: float = 0.0
    core_busy: dict[str, tuple[float, float]] = field(default_factory=dict)
    _before: tuple[float, float, dict[int, float], float, dict[str, tuple[int, int]]] | None = None

    @staticmethod
    def _self_cpu() -> float:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime

    def start(self) -> Usage:
        self._before = (
            time.monotonic(),
            self.server.cpu_seconds(),
            shared.postgres_cpu(),
            self._self_cpu(),
            shared.core_jiffies(),
        )
        return self

    def stop(self) -> Usage:
        assert self._before is not None
        started, server_cpu, pg_before, self_cpu, cores = self._before
        self.wall_s = time.monotonic() - started
        self.server_cpu_s = self.server.cpu_seconds() - server_cpu
        self.postgres_cpu_s = sum(after - pg_before.get(pid, 0.0) for pid, after in shared.postgres_cpu().items())
        self.generator_cpu_s = self._self_cpu() - self_cpu
        self.core_busy = shared.core_busy(cores, shared.core_jiffies())
        return self

    def figures(self) -> dict[str, float]:
        busy = sum(seconds for seconds, _ in self.core_busy.values())
        other = busy - self.server_cpu_s - self.postgres_cpu_s - self.generator_cpu_s
        return {
            "wall_s": self.wall_s,
            "server_cpu_s": self.server_cpu_s,
            "postgres_cpu_s": self.postgres_cpu_s,
            "generator_cpu_s": self.generator_cpu_s,
            "generator_core_share": self.generator_cpu_s / self.wall_s if self.wall_s else math.nan,
            "other_cpu_s": max(0.0, other),
            **{f"core{core}_busy": share for core, (_, share) in sorted(self.core_busy.items())},
        }

    def line(self) -> str:
        figures = self.figures()
        cores = ", ".join(f"{core}: {share:.0%}" for core, (_, share) in sorted(self.core_busy.items()))
        return (
            f"server CPU {figures['server_cpu_s']:.2f} s, postgres CPU {figures['postgres_cpu_s']:.2f} s, "
            f"generator CPU {figures['generator_cpu_s']:.2f} s ({figures['generator_core_share']:.0%} of core "
            f"{shared.CLIENT_CORE}), other processes + interrupts {figures['other_cpu_s']:.2f} s over "
            f"{self.wall_s:.1f} s; cores busy {cores}"
        )


def tree_rss(process: psutil.Process) -> int:
    """Resident bytes of the server process and its children (uvicorn workers)."""
    total = 0
    for member in [process, *process.children(recursive=True)]:
        with contextlib.suppress(psutil.NoSuchProcess):
            total += member.memory_info().rss
    return total


@dataclass
class Memory:
    samples: list[tuple[float, int]] = field(default_factory=list)  # (monotonic, bytes)

    async def sample(self, pid: int, stop: asyncio.Event) -> None:
        """Every RSS_INTERVAL_S until `stop` is set."""
        process = psutil.Process(pid)
        while not stop.is_set():
            self.samples.append((time.monotonic(), tree_rss(process)))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), RSS_INTERVAL_S)

    def between(self, start: float, end: float) -> list[int]:
        return [rss for at, rss in self.samples if start <= at <= end]


# The closed loop: the sustainable rate


@dataclass
class ClosedRun:
    seconds: float  # first request to the last answer (requests start until `sending_s` is up)
    sending_s: float
    connections: int
    requests: int
    tally: Tally
    usage: Usage
    pool_ran_out: bool


async def closed_loop(target: Target, bodies: list[bytes], seconds: float, concurrency: int, usage: Usage) -> ClosedRun:
    connections, tally = Connections(target.port), Tally()
    pending = iter(bodies)
    ran_out, sent = False, 0
    usage.start()
    started = time.monotonic()
    deadline = started + seconds

    async def worker() -> None:
        nonlocal ran_out, sent
        while time.monotonic() < deadline:
            body = next(pending, None)
            if body is None:
                ran_out = True
                return
            sent += 1
            began = time.monotonic()
            try:
                tally.record(await connections.request(target.head(body), body), time.monotonic() - began)
            except Exception as error:  # no answer (reset, closed, unreadable): counted by kind
                tally.failed(error, body.count(b'"vehicle_id"'))

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    usage.stop()
    connections.close()
    return ClosedRun(tally.last_answer - started, seconds, concurrency, sent, tally, usage, ran_out)


# The open loop: a fixed schedule, whatever the answers


@dataclass
class OpenRun:
    intended: int
    rate: float  # requests/s intended
    sent: int = 0
    dropped: int = 0  # held back by the in-flight cap: not sent
    cancelled: int = 0  # still unanswered --drain-seconds after the load
    send_lag_ms: list[float] = field(default_factory=list)  # how late each request left against its schedule
    window_s: float = 0.0  # first scheduled send to the last request sent or dropped
    answered_s: float = 0.0  # first scheduled send to the last answer
    max_in_flight_seen: int = 0
    connections_opened: int = 0
    tally: Tally = field(default_factory=Tally)


Progress = Callable[["OpenRun", int, float], None]  # the run so far, requests in flight, seconds since start


async def open_loop(
    target: Target, bodies: list[bytes], rate: float, max_in_flight: int, drain_seconds: float, progress: Progress
) -> OpenRun:
    """Send bodies[i] at start + i / rate; a 202's latency counts from that scheduled moment."""
    connections = Connections(target.port)
    run = OpenRun(intended=len(bodies), rate=rate)
    tally, in_flight = run.tally, set[asyncio.Task[None]]()

    async def one(body: bytes, scheduled: float) -> None:
        try:
            tally.record(await connections.request(target.head(body), body), time.monotonic() - scheduled)
        except Exception as error:  # no answer (reset, closed, unreadable): counted by kind
            tally.failed(error, body.count(b'"vehicle_id"'))

    started_at = time.monotonic()
    index, next_progress = 0, started_at + 1.0
    while index < len(bodies):
        now = time.monotonic()
        due = min(len(bodies), int((now - started_at) * rate) + 1)
        while index < due:
            scheduled = started_at + index / rate
            if len(in_flight) >= max_in_flight:
                run.dropped += 1
            else:
                task = asyncio.create_task(one(bodies[index], scheduled))
                in_flight.add(task)
                task.add_done_callback(in_flight.discard)
                run.sent += 1
                run.send_lag_ms.append((now - scheduled) * 1000)
                run.max_in_flight_seen = max(run.max_in_flight_seen, len(in_flight))
            bodies[index] = b""  # the task holds its body until sent
            index += 1
        if now >= next_progress:
            progress(run, len(in_flight), now - started_at)
            next_progress += 1.0
        if index < len(bodies):
            await asyncio.sleep(max(0.0, started_at + index / rate - time.monotonic()))
    run.window_s = time.monotonic() - started_at
    deadline = time.monotonic() + drain_seconds
    if in_flight:
        say(f"load sent; waiting up to {drain_seconds:g} s for the {len(in_flight)} requests in flight")
    while in_flight and time.monotonic() < deadline:
        await asyncio.wait(set(in_flight), timeout=min(1.0, deadline - time.monotonic()))
        progress(run, len(in_flight), time.monotonic() - started_at)
    run.cancelled = len(in_flight)
    for task in list(in_flight):
        task.cancel()
    await asyncio.gather(*in_flight, return_exceptions=True)
    run.answered_s = (tally.last_answer or time.monotonic()) - started_at
    run.connections_opened = connections.opened
    connections.close()
    return run


# The run


@dataclass
class Result:
    args: Args
    settings: dict[str, object]
    server: shared.Server
    database_url: str
    sustain: ClosedRun | None
    sustainable_fixes_per_s: float
    sustain_stored: int
    overload: OpenRun
    usage: Usage
    memory: Memory
    window: tuple[float, float]  # load start, answers drained (monotonic)
    stored: int

    @property
    def offered_rps(self) -> float:
        return self.overload.sent / self.overload.window_s if self.overload.window_s else math.nan

    @property
    def accepted_fixes_per_s(self) -> float:
        """Fixes acknowledged per second, from the first scheduled send to the last answer."""
        seconds = self.overload.tally.last_answer - self.window[0]
        return self.overload.tally.accepted / seconds if self.overload.tally.last_answer else math.nan

    @property
    def shed(self) -> int:
        return self.overload.tally.count("503 overloaded")

    def rss(self) -> dict[str, int]:
        """Server RSS in bytes: the most in the idle second before the load, the most during load and drain."""
        start, end = self.window
        during = self.memory.between(start, end)
        return {
            "baseline": max(self.memory.between(start - BASELINE_S, start), default=0),
            "peak": max(during, default=0),
            "end": self.memory.samples[-1][1] if self.memory.samples else 0,
            "samples": len(during),
        }


def make_bodies(count: int, batch_size: int, what: str) -> list[bytes]:
    """`count` bodies of `batch_size` fixes, every fix unique (run.py's bodies()), built before the timed window."""
    size = len(next(shared.bodies(1, batch_size)))
    needed, available = count * size, psutil.virtual_memory().available
    if needed > available // 2:
        raise shared.BenchError(
            f"{what}: {count} bodies need {needed / 1e6:,.0f} MB, more than half the {available / 1e6:,.0f} MB "
            "available; lower --duration or --factor"
        )
    say(f"{what}: building {count} bodies of {batch_size} fixes ({needed / 1e6:,.0f} MB)")
    started = time.monotonic()
    built = list(shared.bodies(count, batch_size))
    say(f"{what}: built in {time.monotonic() - started:.1f} s")
    return built


def create_fleet(server: shared.Server, fleet_id: str) -> shared.Credentials:
    shared.cli(server, "fleet", "create", fleet_id)
    key = shared.cli(server, "key", "create", "--fleet", fleet_id)
    return shared.Credentials(key["key_id"], key["secret"], "")


def sustainable_rate(
    args: Args, server: shared.Server, database_url: str, runner: asyncio.Runner, max_pending_fixes: int
) -> tuple[float, ClosedRun | None, int]:
    """Fixes/s acknowledged by a closed loop (or --sustainable): (rate, the run, fixes stored)."""
    if args.sustainable is not None:
        say(f"sustainable rate given: {args.sustainable:,.0f} fixes/s")
        return args.sustainable, None, 0
    fleet_id = f"overload-sustain-{os.urandom(3).hex()}"
    target = Target(server.port, fleet_id, create_fleet(server, fleet_id))
    pool = make_bodies(math.ceil(150 * args.sustain_seconds), args.batch_size, "sustainable")
    concurrency = max(1, min(SUSTAIN_CONNECTIONS, max_pending_fixes // args.batch_size))
    say(f"sustainable: closed loop, {concurrency} connections for {args.sustain_seconds:g} s")
    sustain = runner.run(closed_loop(target, pool, args.sustain_seconds, concurrency, Usage(server)))
    stored = shared.settled_fixes(database_url, fleet_id)
    rate = sustain.tally.accepted / sustain.seconds if sustain.seconds > 0 else math.nan
    if not rate > 0:
        raise shared.BenchError(f"no fix was accepted in the closed loop: {dict(sustain.tally.answers)}")
    say(f"sustainable: {rate:,.0f} fixes/s acknowledged ({stored} stored)")
    return rate, sustain, stored


def measure(args: Args, server: shared.Server, database_url: str, runner: asyncio.Runner) -> Result:
    settings = effective_settings(server)
    max_pending = settings["writer_max_pending_fixes"]
    assert isinstance(max_pending, int)
    sustainable, sustain, sustain_stored = sustainable_rate(args, server, database_url, runner, max_pending)
    rate = args.factor * sustainable / args.batch_size  # requests/s
    fleet_id = f"overload-load-{os.urandom(3).hex()}"
    target = Target(server.port, fleet_id, create_fleet(server, fleet_id))
    bodies = make_bodies(max(1, round(rate * args.duration)), args.batch_size, "overload")
    memory = Memory()

    def progress(run: OpenRun, in_flight: int, elapsed: float) -> None:
        tally = run.tally
        rss = memory.samples[-1][1] / 1e6 if memory.samples else math.nan
        other = sum(tally.answers.values()) - tally.count("202") - tally.count("503")
        say(
            f"{elapsed:5.1f} s: sent {run.sent}, held back {run.dropped}, in flight {in_flight}; answers 202 "
            f"{tally.count('202')}, 503 {tally.count('503')}, other {other}, failed {sum(tally.failures.values())}; "
            f"server RSS {rss:,.0f} MB"
        )

    async def load() -> tuple[OpenRun, Usage, tuple[float, float]]:
        stop = asyncio.Event()
        sampler = asyncio.create_task(memory.sample(server.process.pid, stop))
        await asyncio.sleep(BASELINE_S)  # the idle baseline
        say(f"overload: {rate:,.1f} req/s ({rate * args.batch_size:,.0f} fixes/s) for {args.duration:g} s")
        usage = Usage(server).start()
        started = time.monotonic()
        run = await open_loop(target, bodies, rate, args.max_in_flight, args.drain_seconds, progress)
        usage.stop()
        ended = time.monotonic()
        stop.set()
        await sampler
        return run, usage, (started, ended)

    overload, usage, window = runner.run(load())
    stored = shared.settled_fixes(database_url, fleet_id)
    return Result(
        args,
        settings,
        server,
        database_url,
        sustain,
        sustainable,
        sustain_stored,
        overload,
        usage,
        memory,
        window,
        stored,
    )


# Report


def _share(part: int, whole: int) -> str:
    return f"{part / whole:.1%}" if whole else "n/a"


def _ms(figures: dict[str, float]) -> str:
    return ", ".join(f"{name} {value:,.1f} ms" for name, value in figures.items())


def _answers(tally: Tally, sent: int) -> str:
    shown = [f"{name}: {count:,} ({_share(count, sent)})" for name, count in sorted(tally.answers.items())]
    shown += [f"no answer ({name}): {count:,}" for name, count in tally.failures.most_common()]
    return "; ".join(shown) or "none"


def unanswered_fixes(result: Result) -> int:
    """Fixes in requests that got no answer: they may or may not have been stored."""
    return result.overload.tally.unanswered_fixes + result.overload.cancelled * result.args.batch_size


def durability(result: Result) -> tuple[bool, list[str]]:
    """Every fix a 202 acknowledged is stored; nothing a 503 or 429 refused is."""
    tally, stored = result.overload.tally, result.stored
    acknowledged = tally.accepted + tally.duplicates
    ok = stored >= tally.accepted
    lines = [
        f"durability   fixes acknowledged by 202 answers {acknowledged:,} (accepted {tally.accepted:,} + duplicates "
        f"{tally.duplicates:,}); rows in `fixes` for the fleet {stored:,}: "
        + ("OK, every accepted fix is stored" if ok else f"FAILURE: {tally.accepted - stored:,} accepted fixes missing")
    ]
    beyond, unanswered = stored - tally.accepted, unanswered_fixes(result)
    if beyond > unanswered:
        lines.append(
            f"  WARNING: {beyond:,} fixes stored beyond the accepted, more than the {unanswered:,} in unanswered "
            "requests: a refused request stored fixes"
        )
    elif beyond:
        lines.append(f"  note: {beyond:,} more stored than acknowledged, of {unanswered:,} fixes sent without answer")
    if tally.duplicates:
        lines.append(f"  WARNING: {tally.duplicates:,} duplicates although every fix sent was unique")
    return ok, lines


def figures(result: Result) -> dict[str, object]:
    """The run's figures, as printed with --json."""
    args, run, tally = result.args, result.overload, result.overload.tally
    sustain: dict[str, object] | None = None
    if result.sustain is not None:
        closed = result.sustain
        sustain = {
            "seconds": closed.seconds,
            "connections": closed.connections,
            "requests": closed.requests,
            "answers": dict(closed.tally.answers),
            "accepted_fixes": closed.tally.accepted,
            "stored_fixes": result.sustain_stored,
            "pool_ran_out": closed.pool_ran_out,
            "latency_ms": latency_figures(closed.tally.latencies_ms),
            "cpu": closed.usage.figures(),
        }
    return {
        "placement": {
            "server_core": shared.SERVER_CORE,
            "generator_core": shared.CLIENT_CORE,
            "postgres": "unpinned",
            "cores": os.cpu_count(),
            "server_pid": result.server.process.pid,
        },
        "settings": {"given": result.args.options.server_env, "in_force": result.settings},
        "batch_size": args.batch_size,
        "sustainable_fixes_per_s": result.sustainable_fixes_per_s,
        "sustainable": sustain,
        "factor": args.factor,
        "duration_s": args.duration,
        "intended_requests": run.intended,
        "intended_rps": run.rate,
        "intended_fixes_per_s": run.rate * args.batch_size,
        "sent_requests": run.sent,
        "held_back_by_cap": run.dropped,
        "max_in_flight": args.max_in_flight,
        "max_in_flight_seen": run.max_in_flight_seen,
        "offered_rps": result.offered_rps,
        "offered_fixes_per_s": result.offered_rps * args.batch_size,
        "send_window_s": run.window_s,
        "send_lag_ms": latency_figures(run.send_lag_ms),
        "connections_opened": run.connections_opened,
        "answers": dict(tally.answers),
        "no_answer": dict(tally.failures),
        "cancelled_after_drain": run.cancelled,
        "shed_requests": result.shed,
        "shed_share_of_sent": result.shed / run.sent if run.sent else math.nan,
        "shed_without_retry_after": tally.without_retry_after,
        "accepted_fixes": tally.accepted,
        "duplicates": tally.duplicates,
        "accepted_fixes_per_s": result.accepted_fixes_per_s,
        "accepted_latency_ms": latency_figures(tally.latencies_ms),
        "rss_bytes": result.rss(),
        "cpu": result.usage.figures(),
        "stored_fixes": result.stored,
        "unanswered_fixes": unanswered_fixes(result),
        "durable": durability(result)[0],
    }


def report(result: Result) -> list[str]:
    args, run, tally, rss = result.args, result.overload, result.overload.tally, result.rss()
    lag, offered = latency_figures(run.send_lag_ms), result.offered_rps
    url = urlsplit(result.database_url)
    given = " ".join(f"{name}={value}" for name, value in sorted(args.options.server_env.items()))
    lines = [
        "",
        "==================== harbor-fleet overload ====================",
        f"placement: server `taskset -c {shared.SERVER_CORE}` (pid {result.server.process.pid}, 1 worker); generator: "
        f"this Python process (asyncio streams on uvloop) on core {shared.CLIENT_CORE}; PostgreSQL unpinned; "
        f"{os.cpu_count()} cores",
        f"database:  {url.path.lstrip('/')} on {url.hostname}; {args.batch_size} unique fixes per request, signed "
        "at send time",
        f"server settings given: {given}",
        "in force:  " + ", ".join(f"{name}={value}" for name, value in result.settings.items()),
        "",
    ]
    if (closed := result.sustain) is not None:
        lines += [
            f"sustainable  closed loop, {closed.connections} connections sending for {closed.sending_s:g} s, "
            f"last answer at {closed.seconds:.2f} s: {result.sustainable_fixes_per_s:,.0f} fixes/s acknowledged "
            f"({closed.requests:,} requests; {_answers(closed.tally, closed.requests)}; "
            f"stored {result.sustain_stored:,})",
            "             latency at saturation (not a latency figure): "
            + _ms(latency_figures(closed.tally.latencies_ms)),
            f"             {closed.usage.line()}",
        ]
        if closed.pool_ran_out:
            lines.append("             note: the pre-built bodies ran out before the time was up")
        if refused := closed.requests - closed.tally.count("202"):
            lines.append(f"             WARNING: {refused} closed-loop requests not accepted: not a sustainable rate")
    else:
        lines.append(f"sustainable  given: {result.sustainable_fixes_per_s:,.0f} fixes/s (--sustainable)")
    kept_up = lag["p99"] < 10.0 and run.window_s < args.duration * 1.05
    lines += [
        f"overload     intended {args.factor:g} x {result.sustainable_fixes_per_s:,.0f} = "
        f"{run.rate * args.batch_size:,.0f} fixes/s = {run.rate:,.1f} req/s for {args.duration:g} s "
        f"({run.intended:,} requests), open loop, at most {args.max_in_flight:,} in flight",
        f"  offered    {run.sent:,} sent in {run.window_s:.2f} s = {offered:,.1f} req/s "
        f"({offered * args.batch_size:,.0f} fixes/s, {_share(run.sent, run.intended)} of intended); held back by "
        f"the in-flight cap (not sent): {run.dropped:,}; most in flight {run.max_in_flight_seen:,}; "
        f"{run.connections_opened:,} connections",
        f"             send lag against the schedule {_ms(lag)}: "
        + ("the generator kept to the schedule" if kept_up else "WARNING: the generator fell behind its schedule"),
        f"  answers    {_answers(tally, run.sent)}"
        + (f"; cancelled after {args.drain_seconds:g} s of drain: {run.cancelled:,}" if run.cancelled else ""),
        f"  shed       {result.shed:,} requests answered 503 overloaded = {_share(result.shed, run.sent)} of those sent"
        + (
            f"; WARNING: {tally.without_retry_after} 429/503 answers without Retry-After"
            if tally.without_retry_after
            else " (every 503/429 carried Retry-After)"
            if tally.count("503") + tally.count("429")
            else ""
        ),
        f"  accepted   {tally.accepted:,} fixes = {result.accepted_fixes_per_s:,.0f} fixes/s (first send to last "
        f"answer); latency of 202 answers from their scheduled send: {_ms(latency_figures(tally.latencies_ms))}",
        f"  memory     server RSS (process tree, every {RSS_INTERVAL_S * 1000:.0f} ms): "
        f"baseline {rss['baseline'] / 1e6:,.0f} MB before the load, peak {rss['peak'] / 1e6:,.0f} MB during load "
        f"and drain (+{(rss['peak'] - rss['baseline']) / 1e6:,.0f} MB), {rss['end'] / 1e6:,.0f} MB at the end",
        f"  CPU        {result.usage.line()}",
        *(f"  sample     {sample}" for sample in tally.samples),
        *durability(result)[1],
    ]
    return lines


def finite(value: object) -> object:
    """`value` with NaN (a figure that could not be computed) as null, which JSON has."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {key: finite(item) for key, item in value.items()}
    return value


# Main


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if (os.cpu_count() or 1) < 2 or shutil.which("taskset") is None:
        print("bench failed: needs taskset and 2 cores (server on core 0, generator on core 1)", file=sys.stderr)
        return 1
    os.sched_setaffinity(0, {int(shared.CLIENT_CORE)})  # the generator's core; the server pins itself
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # a connection per request in flight
    workdir = Path(tempfile.mkdtemp(prefix="harbor-overload-"))
    server: shared.Server | None = None
    try:
        with (
            shared.bench_database(args.options) as database_url,
            shared.running_server(database_url, args.options, workdir) as server,
            asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner,
        ):
            result = measure(args, server, database_url, runner)
    except (shared.BenchError, psycopg.Error, subprocess.TimeoutExpired, OSError) as error:
        print(f"bench failed: {error}", file=sys.stderr)
        if server is not None:
            print(f"server log: {server.log_path}\n--- last lines ---\n{shared.tail(server.log_path)}", file=sys.stderr)
        return 1
    numbers = figures(result)
    problems = shared.log_problems(server.log_path)
    lines = [
        *report(result),
        "",
        server.stopped,
        f"server log: {server.log_path}, {len(problems)} line(s) at warning level or above (or tracebacks)",
        *(f"  {line}" for line in problems[:5]),
        "=" * 63,
    ]
    numbers.update(server_stopped=server.stopped, server_log=str(server.log_path), log_problems=len(problems))
    print("\n".join(lines), file=sys.stderr if args.json else sys.stdout, flush=True)
    if args.json:
        print(json.dumps(finite(numbers)), flush=True)
    return 0 if numbers["durable"] else 1


if __name__ == "__main__":
    sys.exit(main())
