"""The one listener per process: reads the bus and hands each committed event to the fleet's tracker
and live sessions. When the bus says it lost messages, both resynchronise from PostgreSQL."""

import time

from harbor_fleet.adapters.bus.base import Bus, Delivery, fleet_of
from harbor_fleet.metrics import BUS_LAG
from harbor_fleet.runtime.live import LiveSessions
from harbor_fleet.runtime.trackers import Trackers
from harbor_fleet.service.frames import decode_batch, event_of


async def feed(bus: Bus, trackers: Trackers, sessions: LiveSessions) -> None:
    async for message in bus.deliveries():
        if isinstance(message, Delivery):
            dispatch(message, trackers, sessions)
        else:
            trackers.reload_all()
            sessions.catch_up_all()


def dispatch(delivery: Delivery, trackers: Trackers, sessions: LiveSessions) -> None:
    BUS_LAG.observe(max(0.0, time.time() - delivery.sent_at))
    fleet_id = fleet_of(delivery.topic)
    if fleet_id is None or not (trackers.running(fleet_id) or sessions.watching(fleet_id)):
        return  # nobody here holds this fleet: a tracker started later loads it from PostgreSQL
    frames = decode_batch(delivery.data)
    trackers.apply(fleet_id, [(frame.seq, event_of(frame)) for frame, _ in frames])
    sessions.deliver(fleet_id, [(frame.seq, text) for frame, text in frames])
