"""The live stream (DESIGN 2.4): who may open it, and what a session is sent.

A session joins the fleet's live sessions first (so it buffers every frame from then on), then gets
its opening: a snapshot, or the events after `since` replayed from PostgreSQL. After that it is sent
the frames it buffered in seq order, skipping what the opening covered and filling any gap from
PostgreSQL, so that every event after `since` is sent exactly once.
"""

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from harbor_fleet.adapters.postgres.store import PostgresStore, StoreUnavailable
from harbor_fleet.domain.fleet import FleetSettings
from harbor_fleet.runtime.live import LiveSessions, Session, TooManySessions
from harbor_fleet.service.errors import (
    InvalidQuery,
    InvalidToken,
    MissingToken,
    OriginForbidden,
    RateLimited,
    Unavailable,
)
from harbor_fleet.service.fleet_service import FleetService
from harbor_fleet.service.frames import event_frame, snapshot_frame
from harbor_fleet.service.status import render_status, render_vehicles

MAX_REPLAY = 10_000
Send = Callable[[str], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class LiveRequest:
    fleet: FleetSettings
    token_id: str
    since: int | None
    # How the stream was admitted, to re-check while it is open (never shown: they are secrets).
    authorization: str | None = field(default=None, repr=False)
    session: str | None = field(default=None, repr=False)


def parse_since(values: list[str]) -> int | None:
    if not values:
        return None
    if len(values) > 1 or not (values[0].isascii() and values[0].isdigit()) or len(values[0]) > 18:
        raise InvalidQuery("since must be one integer >= 0")
    return int(values[0])


class LiveService:
    def __init__(self, service: FleetService, store: PostgresStore, sessions: LiveSessions) -> None:
        self._service = service
        self._store = store
        self._sessions = sessions

    async def authorize(
        self,
        authorization: str | None,
        fleet_id: str,
        since: list[str],
        session: str | None = None,
        same_origin: bool = True,
    ) -> LiveRequest:
        """401 → 429 → 404 → 403 → 400, as for status. A browser session (cookie) must come from a page
        of this origin: another site's page cannot open the stream with the operator's cookie."""
        credentials = self._service.credentials
        token = await credentials.operator(authorization, session)
        fleet = await credentials.fleet_for(token.fleets, fleet_id)
        if not authorization and not same_origin:
            raise OriginForbidden
        return LiveRequest(fleet, token.token_id, parse_since(since), authorization, session)

    async def watch_credential(self, request: LiveRequest, every: float) -> None:
        """Return when the stream's credential no longer admits it (revoked, session ended, fleet
        taken away), checked every `every` seconds through the credential caches."""
        credentials = self._service.credentials
        while True:
            await asyncio.sleep(every)
            try:
                token = await credentials.operator(request.authorization, request.session, limit=False)
            except (InvalidToken, MissingToken):
                return
            except StoreUnavailable:
                continue  # a database outage is not a revocation
            if request.fleet.fleet_id not in token.fleets:
                return

    def join(self, request: LiveRequest) -> Session:
        try:
            return self._sessions.join(request.fleet.fleet_id, request.token_id)
        except TooManySessions as error:
            raise RateLimited("this token holds as many live connections as it may", retry_after=5) from error

    def leave(self, session: Session) -> None:
        self._sessions.leave(session)

    async def stream(self, request: LiveRequest, session: Session, send: Send) -> None:
        """Send the opening, then every frame as it comes; returns only when `send` fails."""
        last = await self._open(request, send)
        while True:
            await session.wakeup.wait()
            frames = session.take()
            if session.needs_snapshot:
                session.needs_snapshot = False
                last = await self._snapshot(request.fleet, send)
                continue
            if session.needs_catch_up:
                session.needs_catch_up = False
                last = await self._catch_up(request.fleet, last, await self._current_seq(request.fleet), send)
            for seq, frame in frames:
                if seq <= last:
                    continue
                if seq > last + 1:
                    last = await self._catch_up(request.fleet, last, seq - 1, send)
                await send(frame)
                last = seq

    async def _open(self, request: LiveRequest, send: Send) -> int:
        since = request.since
        if since is None:
            return await self._snapshot(request.fleet, send)
        current = await self._current_seq(request.fleet)
        if since > current or current - since > MAX_REPLAY:
            return await self._snapshot(request.fleet, send)
        return await self._catch_up(request.fleet, since, current, send)

    async def _snapshot(self, fleet: FleetSettings, send: Send) -> int:
        state = await self._service.current_state(fleet)
        now = self._service.now_micros()
        await send(snapshot_frame(render_status(fleet.fleet_id, state.seq, render_vehicles(state, now), now)))
        return state.seq

    async def _catch_up(self, fleet: FleetSettings, last: int, upto: int, send: Send) -> int:
        """Send the events after `last` up to `upto` from PostgreSQL; too many gets a snapshot."""
        if upto - last > MAX_REPLAY:
            return await self._snapshot(fleet, send)
        try:
            events = await self._store.events(fleet.fleet_id, last, upto)
        except StoreUnavailable as error:
            raise Unavailable(retry_after=1) from error
        for seq, event in events:
            await send(event_frame(seq, event).decode())
            last = seq
        return last

    async def _current_seq(self, fleet: FleetSettings) -> int:
        try:
            return max(await self._store.current_seq(fleet.fleet_id), 0)
        except StoreUnavailable as error:
            raise Unavailable(retry_after=1) from error
