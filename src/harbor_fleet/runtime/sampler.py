"""Samples what a process holds for the gauges (trackers, mailboxes, live connections, memory) and how
late its event loop runs, once a period, as a supervised child."""

import asyncio
import time

from harbor_fleet import metrics
from harbor_fleet.runtime.live import LiveSessions
from harbor_fleet.runtime.trackers import Trackers


async def sample_forever(trackers: Trackers, sessions: LiveSessions, every: float = 1.0) -> None:
    while True:
        due = time.perf_counter() + every
        await asyncio.sleep(every)  # the timer whose lateness is the loop's lag, not synchronisation
        metrics.LOOP_LAG.observe(max(0.0, time.perf_counter() - due))
        sample(trackers, sessions)


def sample(trackers: Trackers, sessions: LiveSessions) -> None:
    metrics.TRACKERS.set(trackers.count())
    metrics.TRACKER_MAILBOX.set(trackers.mailbox_depth())
    metrics.WS_CONNECTIONS.set(sessions.count)
    metrics.MEMORY.set(metrics.resident_bytes())
