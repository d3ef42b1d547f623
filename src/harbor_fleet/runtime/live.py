"""Live sessions by fleet: each WebSocket client has a bounded backlog of frames.

Frames arrive once per commit from the bus feed and are offered to every session of the fleet without
waiting for any client. A session whose backlog is full drops it and is marked to receive a fresh
snapshot instead: a slow client never makes the server buffer without bound.
"""

import asyncio
from collections import deque
from dataclasses import dataclass, field

from harbor_fleet import metrics

_DROPPED = metrics.WS_FRAMES.labels("dropped")


@dataclass(eq=False, slots=True)
class Session:
    fleet_id: str
    token_id: str
    max_backlog: int
    backlog: deque[tuple[int, str]] = field(default_factory=deque)
    needs_snapshot: bool = False  # the backlog overflowed (or the bus lost messages): start again
    needs_catch_up: bool = False  # frames may be missing: compare with PostgreSQL
    wakeup: asyncio.Event = field(default_factory=asyncio.Event)
    dropped: int = 0

    def offer(self, seq: int, frame: str) -> None:
        if self.needs_snapshot:
            return
        if len(self.backlog) >= self.max_backlog:
            self.dropped += len(self.backlog)
            _DROPPED.inc(len(self.backlog))
            self.backlog.clear()
            self.needs_snapshot = True
        else:
            self.backlog.append((seq, frame))
        self.wakeup.set()

    def flag_catch_up(self) -> None:
        self.needs_catch_up = True
        self.wakeup.set()

    def take(self) -> list[tuple[int, str]]:
        frames = list(self.backlog)
        self.backlog.clear()
        self.wakeup.clear()
        return frames


class TooManySessions(Exception):
    """The credential holds as many live connections as it may."""


class LiveSessions:
    def __init__(self, max_backlog: int, max_per_token: int) -> None:
        self._max_backlog = max_backlog
        self._max_per_token = max_per_token
        self._by_fleet: dict[str, set[Session]] = {}
        self._by_token: dict[str, int] = {}

    def join(self, fleet_id: str, token_id: str) -> Session:
        held = self._by_token.get(token_id, 0)
        if held >= self._max_per_token:
            raise TooManySessions
        self._by_token[token_id] = held + 1
        session = Session(fleet_id, token_id, self._max_backlog)
        self._by_fleet.setdefault(fleet_id, set()).add(session)
        return session

    def leave(self, session: Session) -> None:
        sessions = self._by_fleet.get(session.fleet_id)
        if sessions is not None:
            sessions.discard(session)
            if not sessions:
                del self._by_fleet[session.fleet_id]
        remaining = self._by_token.get(session.token_id, 0) - 1
        if remaining > 0:
            self._by_token[session.token_id] = remaining
        else:
            self._by_token.pop(session.token_id, None)

    def watching(self, fleet_id: str) -> bool:
        return fleet_id in self._by_fleet

    def deliver(self, fleet_id: str, frames: list[tuple[int, str]]) -> None:
        for session in self._by_fleet.get(fleet_id, ()):
            for seq, frame in frames:
                session.offer(seq, frame)

    def catch_up(self, fleet_id: str) -> None:
        """The fleet has events this process did not hear of: its sessions replay them from PostgreSQL."""
        for session in self._by_fleet.get(fleet_id, ()):
            session.flag_catch_up()

    def catch_up_all(self) -> None:
        for fleet_id in list(self._by_fleet):
            self.catch_up(fleet_id)

    @property
    def count(self) -> int:
        return sum(len(sessions) for sessions in self._by_fleet.values())
