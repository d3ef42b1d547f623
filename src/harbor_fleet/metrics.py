"""Prometheus metrics (DESIGN 2.8: the names dashboards rely on, and a few more).

With several worker processes (`serve --workers N`) each process writes its samples to files in
PROMETHEUS_MULTIPROC_DIR (`serve` makes one per run) and `/metrics` on any process reports them all,
summed (prometheus_client's multiprocess mode). Gauges of one process's state are summed over the
processes alive; a process that is gone leaves its counters (they never go back) and its gauges are
dropped at the next scrape. Labels come from fixed sets (route templates, outcomes, error codes), never
from what a client sent, so no request can grow the number of series.
"""

import os
import resource
from pathlib import Path

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, generate_latest, multiprocess

MULTIPROC_DIR = "PROMETHEUS_MULTIPROC_DIR"
# Seconds, for every duration below: from a fast-path answer (a fraction of a millisecond) to a stalled one.
SECONDS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

FIXES = Counter(
    "harbor_fixes", "Fixes sent to ingest: accepted, duplicate (already stored), rejected (invalid)", ["outcome"]
)
INGEST_REQUESTS = Counter(
    "harbor_ingest_requests", "Ingest requests: accepted, or the error code they were refused with", ["outcome"]
)
DEVICE_REPORTS = Counter(
    "harbor_device_reports",
    "Positions phone apps reported, by protocol (osmand, owntracks; a batch counts each): stored, duplicate, "
    "rejected, or heartbeat (no fix)",
    ["protocol", "outcome"],
)
HTTP_DURATION = Histogram(
    "harbor_http_request_duration_seconds",
    "HTTP requests by route template, method and status, from the request's start to its last byte",
    ["route", "method", "status"],
    buckets=SECONDS,
)
WRITER_BATCH = Histogram(
    "harbor_writer_batch_size",
    "Fixes per batch the group-commit writer stored",
    buckets=(1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000),
)
WRITER_COMMIT = Histogram(
    "harbor_writer_commit_seconds",
    "How long a batch took to store and commit",
    buckets=SECONDS,
)
TRACKER_RESTARTS = Counter("harbor_tracker_restarts", "Fleet trackers restarted after a crash")
TRACKER_MAILBOX = Gauge(
    "harbor_tracker_mailbox_depth", "Messages waiting in the trackers' mailboxes", multiprocess_mode="livesum"
)
TRACKERS = Gauge("harbor_trackers", "Fleet trackers running", multiprocess_mode="livesum")
WS_CONNECTIONS = Gauge("harbor_ws_connections", "Open live-stream WebSocket connections", multiprocess_mode="livesum")
WS_FRAMES = Counter(
    "harbor_ws_frames", "Live-stream frames: sent, or dropped from a slow client's backlog", ["outcome"]
)
BUS_LAG = Histogram(
    "harbor_bus_lag_seconds",
    "From a commit's publication (or, on the PostgreSQL bus, its notification's arrival) to its delivery here",
    buckets=SECONDS,
)
LOOP_LAG = Histogram(
    "harbor_event_loop_lag_seconds",
    "How late the event loop ran a timer: time its tasks spent waiting for the CPU",
    buckets=SECONDS,
)
MEMORY = Gauge(
    "harbor_process_resident_memory_bytes",
    "Resident memory of the server process (with several, one series per process, labelled by pid)",
    multiprocess_mode="liveall",
)
JOBS_WAITING = Gauge(
    "harbor_jobs_waiting", "Jobs due in the queue and not yet taken (read at scrape)", multiprocess_mode="mostrecent"
)
JOBS_FAILED = Gauge(
    "harbor_jobs_failed", "Jobs in the queue that ended in failure (read at scrape)", multiprocess_mode="mostrecent"
)
JOBS_OLDEST = Gauge(
    "harbor_jobs_oldest_waiting_seconds",
    "How long the oldest due job has waited (read at scrape)",
    multiprocess_mode="mostrecent",
)

_PAGE = resource.getpagesize()
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_timers: dict[tuple[str, str, int], "Histogram"] = {}


def http_timer(route: str, method: str, status: int) -> "Histogram":
    """The duration series of one route template, method and status (kept: finding a labelled series
    costs more than observing it). Uncommon methods share the label `other`."""
    key = (route, method if method in _METHODS else "other", status)
    timer = _timers.get(key)
    if timer is None:
        timer = _timers[key] = HTTP_DURATION.labels(key[0], key[1], str(status))
    return timer


def resident_bytes() -> int:
    """This process's resident set, from /proc (where there is none, its peak)."""
    try:
        return int(Path("/proc/self/statm").read_text().split()[1]) * _PAGE
    except (OSError, IndexError, ValueError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def exposition() -> bytes:
    """Every metric, in the Prometheus text format: of all the processes when there are several."""
    directory = os.environ.get(MULTIPROC_DIR)
    if not directory:
        return generate_latest(REGISTRY)
    _forget_dead_processes(Path(directory))
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=directory)  # type: ignore[no-untyped-call]
    return generate_latest(registry)


def _forget_dead_processes(directory: Path) -> None:
    """Drop the live gauges of worker processes that have exited (uvicorn replaces a dead worker with a
    new process, which never tells the others)."""
    for pid in {_pid_of(path) for path in directory.glob("gauge_live*_*.db")}:
        if pid is not None and not _alive(pid):
            multiprocess.mark_process_dead(pid, str(directory))  # type: ignore[no-untyped-call]


def _pid_of(path: Path) -> int | None:
    tail = path.stem.rsplit("_", 1)[-1]
    return int(tail) if tail.isdigit() else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
