"""The embedded PostgreSQL: a private server in the data folder, started by pgserver.

pgserver has two sharp edges after a SIGKILL, both mended here before it starts:
- the dead process stays listed in `<data>/.handle_pids.json`, so the server would never be
  stopped again: dead entries are dropped;
- a stale `postmaster.pid` whose PID now belongs to an unrelated process makes PostgreSQL refuse
  to start and pgserver kill that process at exit: such a file is removed.
"""

import contextlib
import json
import os
import time
from pathlib import Path

import psutil  # type: ignore[import-untyped]

_START_ATTEMPTS = 20
_handles: dict[Path, object] = {}  # the pgserver handle this process holds, by server folder


class EmbeddedDatabaseError(RuntimeError):
    """The embedded PostgreSQL could not be started."""


def start(data_dir: Path, database: str = "harbor") -> str:
    """Start (or attach to) the embedded server in `data_dir`; returns a connection URL."""
    import pgserver  # imported late: a process using an external database never needs it

    pgdata = _pgdata(data_dir)
    pgdata.mkdir(parents=True, exist_ok=True)
    server = None
    for attempt in range(_START_ATTEMPTS):
        _mend(pgdata)
        try:
            server = pgserver.get_server(pgdata, cleanup_mode="stop")  # type: ignore[attr-defined]
            break
        except Exception as error:  # pgserver raises bare errors; retried while old backends exit
            if attempt == _START_ATTEMPTS - 1:
                raise EmbeddedDatabaseError(f"embedded PostgreSQL in {pgdata} did not start: {error}") from error
            time.sleep(0.25)
    assert server is not None
    _handles[pgdata] = server
    _ensure_database(server, database)
    return str(server.get_uri(database))


def release(data_dir: Path) -> None:
    """Let go of the embedded server in `data_dir`; the last process to let go stops it. pgserver does
    this at exit too, but a process ended by a signal (as uvicorn ends itself after SIGTERM) never gets
    there."""
    server = _handles.pop(_pgdata(data_dir), None)
    if server is not None:
        server._cleanup()  # type: ignore[attr-defined]


def _pgdata(data_dir: Path) -> Path:
    return data_dir.expanduser().resolve() / "pg"


def _mend(pgdata: Path) -> None:
    _drop_dead_handles(pgdata / ".handle_pids.json")
    _drop_stale_postmaster_pid(pgdata)


def _drop_dead_handles(path: Path) -> None:
    try:
        pids = json.loads(path.read_text())
    except (OSError, ValueError):
        return
    alive = [pid for pid in pids if isinstance(pid, int) and pid != os.getpid() and psutil.pid_exists(pid)]
    if alive != pids:
        path.write_text(json.dumps(alive))


def _drop_stale_postmaster_pid(pgdata: Path) -> None:
    pid_file = pgdata / "postmaster.pid"
    try:
        pid = int(pid_file.read_text().split("\n", 1)[0])
    except (OSError, ValueError):
        return
    try:
        process = psutil.Process(pid)
        is_ours = process.name() == "postgres" and str(pgdata) in " ".join(process.cmdline())
    except psutil.Error:
        return  # no such process: PostgreSQL itself treats the file as stale
    if not is_ours:
        pid_file.unlink(missing_ok=True)


def _ensure_database(server: object, database: str) -> None:
    import psycopg

    with psycopg.connect(server.get_uri("postgres"), autocommit=True) as conn:  # type: ignore[attr-defined]
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone()
        if not exists:
            # Another process may make it at the same moment (workers start together).
            with contextlib.suppress(psycopg.errors.DuplicateDatabase, psycopg.errors.UniqueViolation):
                conn.execute(f'CREATE DATABASE "{database}"')
