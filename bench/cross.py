"""Cross-process latency: a fix ingested on one server process, on another process's live stream.

    .venv/bin/python bench/cross.py [--bus postgres,redis://127.0.0.1:6379/0] [--fixes 300]

For each bus, two `harbor-fleet serve` processes share one fresh database (the periodic resync switched
off, so only the bus carries events): A on core 0, B on core 1, PostgreSQL and Redis unpinned. One client
holds a live stream on B and sends signed single-fix requests to A one after another; the figure is the
time from sending a request to A until its frame arrives on B, commit included, and the time A took to
answer 202 beside it (the difference is the bus).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
import urllib.request
from contextlib import ExitStack
from pathlib import Path

import websockets

import run as shared

WARMUP = 20


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="harbor-fleet cross-process latency (see bench/README.md)")
    parser.add_argument("--bus", default="postgres,redis://127.0.0.1:6379/0", help="buses to measure, comma-separated")
    parser.add_argument("--fixes", type=int, default=300, help="sequential single-fix requests per bus (default 300)")
    return parser.parse_args(argv)


def post(url: str, key_id: str, secret: str, body: bytes) -> None:
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        "X-Harbor-Key": key_id,
        "X-Harbor-Timestamp": timestamp,
        "X-Harbor-Signature": "v1=" + shared.sign(secret, timestamp, body),
    }
    with urllib.request.urlopen(urllib.request.Request(url, data=body, headers=headers, method="POST")) as answer:
        if answer.status != 202:
            raise shared.BenchError(f"ingest answered {answer.status}")


async def measure(
    a: shared.Server, b: shared.Server, credentials: shared.Credentials, count: int
) -> dict[str, list[float]]:
    ingest = f"{a.base_url}/api/v1/fleets/cross/positions"
    live = f"ws://127.0.0.1:{b.port}/api/v1/fleets/cross/live"
    figures: dict[str, list[float]] = {"frame": [], "answer": []}
    base = time.time() - 30
    async with websockets.connect(live, additional_headers={"Authorization": f"Bearer {credentials.token}"}) as ws:
        await ws.recv()  # the snapshot
        for n in range(count + WARMUP):
            recorded_at = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(base)) + f".{n:06d}Z"
            body = json.dumps({"fixes": [{"vehicle_id": f"v{n % 20}", "lat": 1, "lng": 2, "recorded_at": recorded_at}]})
            sent = time.perf_counter()
            await asyncio.to_thread(post, ingest, credentials.key_id, credentials.secret, body.encode())
            answered = time.perf_counter()
            frame = json.loads(await asyncio.wait_for(ws.recv(), timeout=10))
            arrived = time.perf_counter()
            if frame.get("recorded_at") != recorded_at:
                raise shared.BenchError(f"unexpected frame {frame}")
            if n >= WARMUP:
                figures["answer"].append((answered - sent) * 1000)
                figures["frame"].append((arrived - sent) * 1000)
    return figures


def quantiles(values: list[float]) -> str:
    cuts = statistics.quantiles(values, n=100)
    return f"p50 {cuts[49]:.2f} ms, p90 {cuts[89]:.2f} ms, p99 {cuts[98]:.2f} ms, max {max(values):.2f} ms"


def run_bus(bus: str, count: int) -> list[str]:
    settings = ["--server-env", f"HARBOR_PUBSUB={bus}", "--server-env", "HARBOR_TRACKER_RESYNC_SECONDS=3600"]
    options = shared.parse_options(["status", *settings])
    with ExitStack() as stack:
        database_url = stack.enter_context(shared.bench_database(options))
        servers = []
        for cores in (shared.SERVER_CORE, shared.CLIENT_CORE):
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory()))
            servers.append(stack.enter_context(shared.running_server(database_url, options, workdir, cores)))
        a, b = servers
        shared.cli(a, "fleet", "create", "cross")
        key = shared.cli(a, "key", "create", "--fleet", "cross")
        token = shared.cli(a, "token", "create", "--fleet", "cross")
        credentials = shared.Credentials(key["key_id"], key["secret"], token["token"])
        figures = asyncio.run(measure(a, b, credentials, count))
    return [
        f"bus {bus}: {count} sequential fixes (after {WARMUP} unmeasured); A on core 0, B on core 1",
        f"  ingest on A answered 202: {quantiles(figures['answer'])}",
        f"  frame on B's live stream: {quantiles(figures['frame'])}",
    ]


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    lines = [line for bus in args.bus.split(",") for line in run_bus(bus, args.fixes)]
    print("\n".join(["", "==================== harbor-fleet cross-process latency ====================", *lines]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
