"""A PostgreSQL of a test's own that it can stop and start under a running server: the binaries
pgserver ships, a data folder in the test's tmp_path, a Unix socket that stays the same across restarts."""

import contextlib
import signal
from pathlib import Path

import psutil  # type: ignore[import-untyped]


def kill_postmaster(pid: int) -> None:
    """SIGKILL a postmaster and every backend of it, and wait until they are gone."""
    postmaster = psutil.Process(pid)
    family = [postmaster, *postmaster.children(recursive=True)]
    for process in family:
        with contextlib.suppress(psutil.NoSuchProcess):  # a backend may exit on its own meanwhile (its client died)
            process.send_signal(signal.SIGKILL)
    psutil.wait_procs(family, timeout=10)


class PrivatePostgres:
    def __init__(self, folder: Path) -> None:
        import pgserver

        self._server = pgserver.get_server(folder / "pg", cleanup_mode="stop")  # type: ignore[attr-defined]
        self.url = str(self._server.get_uri("postgres"))

    def crash(self) -> None:
        """Stop at once, as a power cut would."""
        kill_postmaster(self._server.get_pid())

    def start(self) -> None:
        """Start again on the same folder and socket (crash recovery replays the WAL)."""
        self._server.ensure_postgres_running()

    def close(self) -> None:
        self._server._cleanup()
