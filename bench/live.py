"""Live fan-out benchmark: fix→frame latency with many WebSocket clients, and frames delivered per second.

    .venv/bin/python bench/live.py [latency|fanout|all] [--clients N] [--rate R] [--duration S]

The server runs pinned to core 0 (as in run.py); the WebSocket clients are Python processes pinned to
core 1; PostgreSQL is not pinned. Each ingested fix carries the wall-clock time it was sent as its
recorded_at, so a client measures fix→frame latency from the frame alone (one machine, one clock).
Python clients are slow: their own CPU is printed beside every figure, and a client process that falls
behind shows up as latency and as snapshots (the server replaces a slow client's backlog by a snapshot).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import multiprocessing.queues
import multiprocessing.synchronize
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import run as shared

CLIENTS_PER_PROCESS = 250
TARGETS = {"latency_p99_ms": 50.0, "fanout_frames_per_s": 50_000.0}


@dataclass
class Tally:
    frames: int = 0
    snapshots: int = 0
    gaps: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    cpu_s: float = 0.0
    span_s: float = 0.0  # first frame's arrival to the last one's (Node.js clients only)


def recorded_at_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def seconds_of(recorded_at: str) -> float:
    return datetime.strptime(recorded_at, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC).timestamp()


# Clients (in their own processes)


async def _client(url: str, token: str, tally: Tally, ready: asyncio.Event, counted: list[int]) -> None:
    import websockets

    async with websockets.connect(url, additional_headers={"Authorization": f"Bearer {token}"}, max_queue=None) as ws:
        last = -1
        counted[0] += 1
        if counted[0] == counted[1]:
            ready.set()
        async for message in ws:
            arrived = time.time()
            frame = json.loads(message)
            if frame["type"] == "snapshot":
                tally.snapshots += last >= 0  # a snapshot after the first means this client fell behind
                last = frame["seq"]
                continue
            if frame["type"] != "position":
                continue
            if last >= 0 and frame["seq"] != last + 1:
                tally.gaps += 1
            last = frame["seq"]
            tally.frames += 1
            tally.latencies_ms.append((arrived - seconds_of(frame["recorded_at"])) * 1000)


async def _clients(
    url: str,
    token: str,
    count: int,
    connected: multiprocessing.synchronize.Event,
    stop: multiprocessing.synchronize.Event,
) -> Tally:
    tally = Tally()
    ready = asyncio.Event()
    counted = [0, count]
    tasks = [asyncio.create_task(_client(url, token, tally, ready, counted)) for _ in range(count)]
    await ready.wait()
    connected.set()
    await asyncio.to_thread(stop.wait)  # the parent says when the run is over
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    tally.cpu_s = usage.ru_utime + usage.ru_stime
    return tally


def client_process(url: str, token: str, count: int, connected, stop, results) -> None:  # type: ignore[no-untyped-def]
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    os.sched_setaffinity(0, {int(shared.CLIENT_CORE)})
    results.put(asyncio.run(_clients(url, token, count, connected, stop)))


# The run


def ingest_paced(
    server: shared.Server,
    credentials: shared.Credentials,
    fleet_id: str,
    rate: float,
    duration: float,
    fixes_per_request: int,
) -> int:
    sent, started = 0, time.monotonic()
    while time.monotonic() - started < duration:
        fixes = [
            {"vehicle_id": f"v{(sent + n) % 50}", "lat": 53.5, "lng": 9.9, "recorded_at": recorded_at_now()}
            for n in range(fixes_per_request)
        ]
        answer = shared.post_signed(server, credentials, fleet_id, json.dumps({"fixes": fixes}).encode())
        sent += int(answer.get("accepted", 0))
        time.sleep(max(0.0, started + sent / rate - time.monotonic()))  # pacing the sender
    return sent


@dataclass
class Result:
    phase: str
    clients: int
    sent: int
    tally: Tally
    seconds: float
    server_cpu_s: float


def ingest_measured(
    server: shared.Server,
    credentials: shared.Credentials,
    fleet_id: str,
    rate: float,
    duration: float,
    fixes_per_request: int,
) -> tuple[int, float, float]:
    """Ingest at `rate`, then 2 s for the frames on their way: (fixes sent, seconds, server CPU seconds)."""
    cpu_before, started = server.cpu_seconds(), time.monotonic()
    sent = ingest_paced(server, credentials, fleet_id, rate, duration, fixes_per_request)
    time.sleep(2.0)  # frames still on their way; then the clients stop
    return sent, time.monotonic() - started, server.cpu_seconds() - cpu_before


NODE_CLIENT = Path(__file__).resolve().parent / "live-client"


def node_available() -> bool:
    if not shutil.which("node"):
        return False
    if not (NODE_CLIENT / "node_modules" / "ws").exists():
        shared.say("installing the Node.js WebSocket client for the benchmark (npm ci)")
        subprocess.run(["npm", "ci", "--silent", "--no-audit", "--no-fund"], cwd=NODE_CLIENT, check=True)
    return True


def run_phase_node(
    phase: str,
    server: shared.Server,
    credentials: shared.Credentials,
    fleet_id: str,
    clients: int,
    rate: float,
    duration: float,
    fixes_per_request: int,
) -> Result:
    """The same run with one Node.js process holding every client (on the client core)."""
    url = f"ws://127.0.0.1:{server.port}/api/v1/fleets/{fleet_id}/live"
    command = ["taskset", "-c", shared.CLIENT_CORE, "node", "client.mjs", url, credentials.token, str(clients)]
    node = subprocess.Popen(command, cwd=NODE_CLIENT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert node.stderr is not None and node.stdout is not None
    deadline = time.monotonic() + 120
    while node.stderr.readline().strip() != "connected":  # the client's own line, or an error line
        if node.poll() is not None or time.monotonic() > deadline:
            node.kill()
            raise shared.BenchError("the Node.js clients did not all connect")
    shared.say(f"{phase}: {clients} clients connected (Node.js); ingesting {rate:g} fixes/s for {duration:g} s")
    sent, seconds, server_cpu = ingest_measured(server, credentials, fleet_id, rate, duration, fixes_per_request)
    node.send_signal(signal.SIGTERM)
    summary = json.loads(node.stdout.readline())
    node.wait(timeout=30)
    tally = Tally(
        summary["frames"],
        summary["snapshots"],
        summary["gaps"],
        summary["latencies"],
        summary["cpu_s"],
        summary["span_s"],
    )
    return Result(phase, clients, sent, tally, seconds, server_cpu)


def run_phase(
    phase: str,
    server: shared.Server,
    credentials: shared.Credentials,
    fleet_id: str,
    clients: int,
    rate: float,
    duration: float,
    fixes_per_request: int,
) -> Result:
    url = f"ws://127.0.0.1:{server.port}/api/v1/fleets/{fleet_id}/live"
    processes: list[tuple[multiprocessing.Process, multiprocessing.synchronize.Event]] = []
    stop = multiprocessing.Event()
    results: multiprocessing.queues.Queue[Tally] = multiprocessing.Queue()
    for first in range(0, clients, CLIENTS_PER_PROCESS):
        connected = multiprocessing.Event()
        count = min(CLIENTS_PER_PROCESS, clients - first)
        process = multiprocessing.Process(
            target=client_process, args=(url, credentials.token, count, connected, stop, results)
        )
        process.start()
        processes.append((process, connected))
    for _, connected in processes:
        if not connected.wait(120):
            raise shared.BenchError("the clients did not all connect within 120 s")
    shared.say(f"{phase}: {clients} clients connected; ingesting {rate:g} fixes/s for {duration:g} s")
    sent, seconds, server_cpu = ingest_measured(server, credentials, fleet_id, rate, duration, fixes_per_request)
    stop.set()
    tally = Tally()
    for _ in processes:
        part: Tally = results.get(timeout=60)
        tally.frames += part.frames
        tally.snapshots += part.snapshots
        tally.gaps += part.gaps
        tally.cpu_s += part.cpu_s
        tally.latencies_ms.extend(part.latencies_ms)
    for process, _ in processes:
        process.join(timeout=30)
    return Result(phase, clients, sent, tally, seconds, server_cpu)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))] if ordered else float("nan")


def report(result: Result) -> list[str]:
    tally, expected = result.tally, result.sent * result.clients
    latency = tally.latencies_ms
    return [
        f"{result.phase}  {result.clients} clients, {result.sent} fixes ingested over {result.seconds:.1f} s "
        f"(incl. 2 s to drain)",
        f"  frames received {tally.frames:,} of {expected:,} expected ({tally.frames / result.seconds:,.0f}/s); "
        f"snapshots after falling behind {tally.snapshots}; seq gaps {tally.gaps}"
        + (f"; {tally.frames / tally.span_s:,.0f} frames/s from first to last arrival" if tally.span_s else ""),
        f"  fix→frame latency p50 {percentile(latency, 0.5):.1f} ms, p99 {percentile(latency, 0.99):.1f} ms, "
        f"max {max(latency, default=float('nan')):.1f} ms",
        f"  server CPU {result.server_cpu_s:.2f} s ({result.server_cpu_s / max(tally.frames, 1) * 1e6:.1f} µs/frame); "
        f"clients' CPU {tally.cpu_s:.1f} s over {result.seconds:.1f} s on core {shared.CLIENT_CORE} "
        f"(connecting included)",
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="harbor-fleet live fan-out benchmark (see bench/README.md)")
    parser.add_argument("phase", nargs="?", default="all", choices=["latency", "fanout", "all"])
    parser.add_argument("--clients", type=int, help="clients (default 1000 for latency, 5000 for fanout)")
    parser.add_argument("--rate", type=float, help="fixes ingested per second (default 20 latency, 10 fanout)")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of ingest (default 10)")
    parser.add_argument(
        "--client",
        choices=["node", "python"],
        default="node",
        help="who holds the connections (default node: fast enough that figures are the server's)",
    )
    args = parser.parse_args(argv)
    options = shared.parse_options(["status", "--server-env", "HARBOR_LIVE_MAX_PER_TOKEN=100000"])
    phases = ["latency", "fanout"] if args.phase == "all" else [args.phase]
    lines = [
        "",
        "=" * 20 + " harbor-fleet live benchmark " + "=" * 20,
        f"placement: server `taskset -c {shared.SERVER_CORE}`, clients `taskset -c {shared.CLIENT_CORE}` "
        f"(Node.js: one process; Python: {CLIENTS_PER_PROCESS} per process), PostgreSQL unpinned",
    ]
    with (
        shared.bench_database(options) as database_url,
        tempfile.TemporaryDirectory() as workdir,
        shared.running_server(database_url, options, Path(workdir)) as server,
    ):
        for phase in phases:
            fleet_id = f"live-{phase}"
            shared.cli(server, "fleet", "create", fleet_id)
            key = shared.cli(server, "key", "create", "--fleet", fleet_id)
            token = shared.cli(server, "token", "create", "--fleet", fleet_id)
            credentials = shared.Credentials(key["key_id"], key["secret"], token["token"])
            clients = args.clients or (1000 if phase == "latency" else 5000)
            rate = args.rate or (20.0 if phase == "latency" else 10.0)
            runner = run_phase_node if args.client == "node" and node_available() else run_phase
            result = runner(phase, server, credentials, fleet_id, clients, rate, args.duration, 1)
            lines += report(result)
            if phase == "latency":
                p99 = percentile(result.tally.latencies_ms, 0.99)
                lines.append(
                    f"  target p99 < {TARGETS['latency_p99_ms']:.0f} ms: "
                    f"{'PASS' if p99 < TARGETS['latency_p99_ms'] else 'MISS'}"
                )
            else:
                rate_seen = result.tally.frames / (result.tally.span_s or result.seconds)
                lines.append(
                    f"  target ≥ {TARGETS['fanout_frames_per_s']:,.0f} frames/s: "
                    f"{'PASS' if rate_seen >= TARGETS['fanout_frames_per_s'] else 'MISS'}"
                )
    print("\n".join(lines), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
