"""Scaling across worker processes: run.py's phases with 1 and then 2 server workers, side by side (DESIGN 3).

    .venv/bin/python bench/workers.py [status|ingest|batch|all] [--compare 1,2] [run.py's options, e.g. --fleets 8]

Each worker count is a whole run.py run (its summary is printed): a fresh database (unless --database-url), new
fleets, a server started with that many workers. One worker runs as in run.py (server on core 0, wrk/hey on core 1);
two or more run on every core, wrk/hey and PostgreSQL beside them (run.py's placement()). The table at the end gives
each rate, the ratio of the last count's to the first's, and the CPU seconds per 1,000 requests (batch: per 1,000
fixes) of the server, PostgreSQL and the load generator: a flat server figure means the server scales linearly, so
a ratio short of the worker count beside a flat figure means the cores went elsewhere. See bench/README.md.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, replace

import run as shared

TARGET_RATIO = 1.6  # issue "Scale out": 2 workers against 1 on this 2-core machine


@dataclass(frozen=True)
class Row:
    label: str
    phase: str
    rate: Callable[[shared.Phase], float]


ROWS = (
    Row("status req/s (closed loop)", "status", lambda phase: phase.figures["rps"]),
    Row("ingest fixes/s (1 per req.)", "ingest", lambda phase: phase.figures["fixes_per_s"]),
    Row("batch fixes/s durable", "batch", lambda phase: phase.figures["stored_per_s"]),
)


def parse(argv: list[str] | None) -> tuple[list[int], shared.Options]:
    parser = argparse.ArgumentParser(
        description="harbor-fleet worker scaling (see bench/README.md)",
        epilog="Other options are run.py's (bench/run.py --help), except --workers.",
    )
    parser.add_argument("--compare", default="1,2", help="worker counts, comma-separated (default 1,2)")
    args, rest = parser.parse_known_args(argv)
    if any(item.startswith("--workers") for item in rest):
        parser.error("--workers: use --compare")
    try:
        counts = [int(item) for item in args.compare.split(",")]
    except ValueError:
        counts = []
    if len(counts) < 2 or min(counts) < 1:
        parser.error(f"--compare wants two or more worker counts such as 1,2, got {args.compare!r}")
    return counts, shared.parse_options(rest)


def _basis(phase: shared.Phase, options: shared.Options) -> tuple[shared.Run, float]:
    """The closed-loop run, and what its CPU is counted per (requests; batch: fixes acknowledged)."""
    run = phase.runs["closed"]
    return run, shared.cpu_basis(run, options.batch_size if phase.name == "batch" else 1)[0]


CPU_USERS = {"server": "server_cpu_s", "postgres": "postgres_cpu_s", "wrk": "generator_cpu_s"}  # Run fields


def _per_thousand(run: shared.Run, count: float) -> list[float]:
    return [shared.per_thousand(getattr(run, field), count) for field in CPU_USERS.values()]


def _split(run: shared.Run) -> str:
    """The workers' shares of the server's CPU, and the connections each held."""
    total = sum(run.worker_cpu_s.values()) or math.nan
    shares = "/".join(f"{cpu / total:.0%}" for _, cpu in sorted(run.worker_cpu_s.items()))
    return f"{shares} CPU, {'/'.join(str(n) for _, n in sorted(run.worker_connections.items()))} conn."


def table(results: dict[int, dict[str, shared.Phase]], options: shared.Options, load: dict[int, float]) -> str:
    counts, cores = list(results), os.cpu_count() or 1
    first, last = counts[0], counts[-1]
    arrow = " → ".join(map(str, counts))
    lines = [
        "",
        f"==================== worker scaling: {' vs '.join(map(str, counts))} workers ====================",
        f"{options.duration} s per run, {options.connections} connections, ingest and batch spread over "
        f"{options.fleets} fleet(s); load average (1 min) before each run: "
        + ", ".join(f"{count} worker(s) {load[count]:.2f}" for count in counts),
        f"CPU s per 1,000 requests (batch: per 1,000 fixes acknowledged) with {arrow} workers; a flat server figure "
        "= linear scaling",
        f"ceiling: the {first}-worker run's server + postgres + wrk CPU per request (fix) on all {cores} cores, "
        "what perfectly linear scaling could reach here",
        f"{'figure':<27} "
        + " ".join(f"{f'{count} worker(s)':>12}" for count in counts)
        + f" {'ratio':>12} {'ceiling':>16}  "
        + " ".join(f"{name + ' CPU':<15}" for name in CPU_USERS)
        + f" {last} workers split",
    ]
    for row in ROWS:
        phases = [phase for count in counts if (phase := results[count].get(row.phase))]
        if len(phases) < len(counts):
            continue
        rates, bases = [row.rate(phase) for phase in phases], [_basis(phase, options) for phase in phases]
        cpu = [_per_thousand(run, count) for run, count in bases]  # per count: server, postgres, wrk
        ratio = rates[-1] / rates[0] if rates[0] else math.nan
        ceiling = cores * 1000 / sum(cpu[0]) if sum(cpu[0]) else math.nan
        verdict = "PASS" if ratio >= TARGET_RATIO else "MISS"
        cells = [f"{rate:>12,.0f}" for rate in rates]
        cells += [f"{f'{ratio:.2f}x {verdict}':>12}", f"{f'{ceiling:,.0f} ({ceiling / rates[0]:.2f}x)':>16} "]
        cells += [f"{' → '.join(f'{values[i]:.3f}' for values in cpu):<15}" for i in range(len(CPU_USERS))]
        lines.append(f"{row.label:<27} {' '.join(cells)}" + (f" {_split(bases[-1][0])}" if last > 1 else ""))
    lines += [
        f"ratio: PASS when the {last}-worker rate is at least {TARGET_RATIO}x the {first}-worker one, MISS otherwise;"
        " a ceiling below that target means this machine's cores cannot give it, however the server scales",
        "",
        f"where the CPU went in each closed-loop run (seconds; {cores} cores x the run's length available):",
        f"  {'phase':<8} {'workers':>7} {'seconds':>8} "
        + " ".join(f"{name:>8}" for name in [*CPU_USERS, "other", "idle"]),
    ]
    for row in ROWS:
        for count in counts:
            if phase := results[count].get(row.phase):
                run = phase.runs["closed"]
                idle = max(0.0, cores * run.wall_s - sum(seconds for seconds, _ in run.core_busy.values()))
                used = [*(getattr(run, field) for field in CPU_USERS.values()), max(0.0, run.other_cpu_s), idle]
                shown = " ".join(f"{seconds:>8.2f}" for seconds in used)
                lines.append(f"  {row.phase:<8} {count:>7} {run.wall_s:>8.2f} {shown}")
    return "\n".join([*lines, "=" * 80])


def main(argv: list[str] | None = None) -> int:
    counts, options = parse(argv)
    results: dict[int, dict[str, shared.Phase]] = {}
    load: dict[int, float] = {}
    try:
        shared.check_tools()
        for count in counts:
            load[count] = os.getloadavg()[0]
            shared.say(f"---- {count} worker(s); load average {load[count]:.2f} ----")
            shared.FLEETS.update(shared.fleet_ids())  # new fleets each run: --database-url may be one database
            results[count] = shared.bench(replace(options, workers=count))
    except shared.BenchError as error:
        print(f"bench failed: {error}", file=sys.stderr)
        return 1
    print(table(results, options, load), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
