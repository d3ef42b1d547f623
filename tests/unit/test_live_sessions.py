"""Live sessions: bounded backlogs, a snapshot instead of unbounded buffering, a cap per token."""

import pytest

from harbor_fleet.runtime.live import LiveSessions, TooManySessions


def test_frames_are_offered_to_every_session_of_the_fleet_only() -> None:
    sessions = LiveSessions(max_backlog=10, max_per_token=10)
    a1, a2, b = sessions.join("a", "t1"), sessions.join("a", "t2"), sessions.join("b", "t1")
    sessions.deliver("a", [(1, "f1"), (2, "f2")])
    assert a1.take() == a2.take() == [(1, "f1"), (2, "f2")]
    assert b.take() == []
    assert sessions.count == 3


def test_a_full_backlog_is_dropped_and_replaced_by_a_snapshot_mark() -> None:
    sessions = LiveSessions(max_backlog=3, max_per_token=10)
    slow = sessions.join("a", "t")
    sessions.deliver("a", [(seq, f"f{seq}") for seq in range(1, 50)])
    assert slow.needs_snapshot
    assert len(slow.backlog) <= 3  # bounded, however far behind the client is
    assert slow.dropped >= 3


def test_connections_per_token_are_capped_and_freed_on_leave() -> None:
    sessions = LiveSessions(max_backlog=3, max_per_token=2)
    first = sessions.join("a", "t")
    sessions.join("b", "t")
    with pytest.raises(TooManySessions):
        sessions.join("a", "t")
    sessions.join("a", "other")  # another token is not affected
    sessions.leave(first)
    sessions.join("a", "t")


def test_catch_up_marks_every_session() -> None:
    sessions = LiveSessions(max_backlog=3, max_per_token=5)
    joined = [sessions.join("a", "t"), sessions.join("b", "t")]
    sessions.catch_up_all()
    assert all(s.needs_catch_up and s.wakeup.is_set() for s in joined)
