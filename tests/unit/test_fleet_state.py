"""Latest positions, the event sequence and the online/offline rule (DESIGN 2.2, 2.7)."""

import pytest

from harbor_fleet.domain.fixes import Fix
from harbor_fleet.domain.fleet import FleetSettings, FleetState, vehicle_status
from harbor_fleet.domain.times import MICROS

T0 = 1_795_683_600 * MICROS
THRESHOLD = 300 * MICROS


def fix(vehicle_id: str, recorded_at: int, lat: float = 1.0) -> Fix:
    return Fix(vehicle_id=vehicle_id, recorded_at=recorded_at, lat=lat, lng=2.0)


def state(offline_after_s: int = 300) -> FleetState:
    return FleetState(FleetSettings("fleet-1", offline_after_s=offline_after_s))


# --- vehicle_status --------------------------------------------------------------------------------


def test_default_threshold_is_300_seconds() -> None:
    assert FleetSettings("f").offline_after_micros == 300 * MICROS
    assert FleetSettings("f", offline_after_s=7).offline_after_micros == 7 * MICROS


@pytest.mark.parametrize(
    ("age", "expected"),
    [
        (0, "online"),
        (1, "online"),
        (THRESHOLD - 1, "online"),
        (THRESHOLD, "online"),  # exactly at the threshold: not yet older than it
        (THRESHOLD + 1, "offline"),
        (10 * THRESHOLD, "offline"),
        (-60 * MICROS, "online"),  # a fix slightly in the future
    ],
)
def test_vehicle_status(age: int, expected: str) -> None:
    assert vehicle_status(T0, T0 + age, THRESHOLD) == expected


# --- apply -----------------------------------------------------------------------------------------


def test_new_state_is_empty() -> None:
    fleet = state()
    assert (fleet.seq, fleet.version, fleet.positions) == (0, 0, {})


def test_apply_records_position_and_seq() -> None:
    fleet = state()
    first = fix("a", T0)
    fleet.apply(1, first)
    assert fleet.seq == 1
    assert fleet.positions == {"a": first}


def test_newer_fix_moves_the_vehicle() -> None:
    fleet = state()
    fleet.apply(1, fix("a", T0, lat=1.0))
    newer = fix("a", T0 + 1, lat=3.0)
    fleet.apply(2, newer)
    assert fleet.positions["a"] == newer
    assert fleet.seq == 2


def test_late_fix_does_not_move_the_vehicle_back_but_advances_seq() -> None:
    fleet = state()
    latest = fix("a", T0, lat=1.0)
    fleet.apply(1, latest)
    fleet.apply(2, fix("a", T0 - 1, lat=9.0))
    assert fleet.positions["a"] == latest
    assert fleet.seq == 2


def test_fix_with_the_same_recorded_at_does_not_replace() -> None:
    fleet = state()
    first = fix("a", T0, lat=1.0)
    fleet.apply(1, first)
    fleet.apply(2, fix("a", T0, lat=9.0))
    assert fleet.positions["a"] is first
    assert fleet.seq == 2


@pytest.mark.parametrize("old_seq", [5, 4, 1, 0, -1])
def test_seq_not_above_current_is_ignored(old_seq: int) -> None:
    fleet = state()
    latest = fix("a", T0)
    fleet.apply(5, latest)
    version = fleet.version
    fleet.apply(old_seq, fix("a", T0 + MICROS, lat=9.0))
    fleet.apply(old_seq, fix("b", T0))
    assert fleet.seq == 5
    assert fleet.positions == {"a": latest}
    assert fleet.version == version


def test_seq_may_skip() -> None:
    fleet = state()
    fleet.apply(3, fix("a", T0))
    fleet.apply(10, fix("b", T0))
    assert fleet.seq == 10
    assert set(fleet.positions) == {"a", "b"}


def test_vehicles_are_independent() -> None:
    fleet = state()
    a, b = fix("a", T0), fix("b", T0 - 100 * MICROS)
    fleet.apply(1, a)
    fleet.apply(2, b)
    assert fleet.positions == {"a": a, "b": b}


def test_version_increments_on_every_applied_event() -> None:
    fleet = state()
    fleet.apply(1, fix("a", T0))
    assert fleet.version == 1
    fleet.apply(2, fix("a", T0 + 1))
    assert fleet.version == 2
    fleet.apply(3, fix("b", T0))
    assert fleet.version == 3


def test_version_increments_for_a_late_fix() -> None:
    # The seq changed, and seq is part of what a snapshot renders.
    fleet = state()
    fleet.apply(1, fix("a", T0))
    fleet.apply(2, fix("a", T0 - 1))
    assert fleet.version == 2


def test_version_unchanged_by_an_ignored_event() -> None:
    fleet = state()
    fleet.apply(2, fix("a", T0))
    fleet.apply(2, fix("a", T0 + 1))
    fleet.apply(1, fix("a", T0 + 2))
    assert fleet.version == 1


# --- next_status_change ----------------------------------------------------------------------------


def test_no_vehicles_no_change() -> None:
    assert state().next_status_change(T0) is None


def test_next_change_is_first_instant_offline() -> None:
    fleet = state()
    fleet.apply(1, fix("a", T0))
    change = fleet.next_status_change(T0)
    assert change == T0 + THRESHOLD + 1
    assert vehicle_status(T0, change - 1, THRESHOLD) == "online"
    assert vehicle_status(T0, change, THRESHOLD) == "offline"


def test_next_change_is_the_earliest_vehicle() -> None:
    fleet = state()
    fleet.apply(1, fix("late", T0))
    fleet.apply(2, fix("early", T0 - 100 * MICROS))
    fleet.apply(3, fix("middle", T0 - 50 * MICROS))
    assert fleet.next_status_change(T0) == T0 - 100 * MICROS + THRESHOLD + 1


def test_next_change_uses_the_fleet_threshold() -> None:
    fleet = state(offline_after_s=60)
    fleet.apply(1, fix("a", T0))
    assert fleet.next_status_change(T0) == T0 + 60 * MICROS + 1


def test_offline_vehicles_are_skipped() -> None:
    fleet = state()
    fleet.apply(1, fix("gone", T0 - THRESHOLD - 1))  # already offline at T0
    fleet.apply(2, fix("here", T0 - 10 * MICROS))
    assert fleet.next_status_change(T0) == T0 - 10 * MICROS + THRESHOLD + 1


def test_all_offline_gives_none() -> None:
    fleet = state()
    fleet.apply(1, fix("a", T0))
    fleet.apply(2, fix("b", T0 - MICROS))
    assert fleet.next_status_change(T0 + THRESHOLD + 1) is None


def test_vehicle_exactly_at_the_threshold_turns_offline_next_microsecond() -> None:
    fleet = state()
    fleet.apply(1, fix("a", T0))
    now = T0 + THRESHOLD  # still online (not older than the threshold)
    assert vehicle_status(T0, now, THRESHOLD) == "online"
    assert fleet.next_status_change(now) == now + 1


def test_next_change_is_after_now() -> None:
    fleet = state()
    fleet.apply(1, fix("a", T0))
    fleet.apply(2, fix("b", T0 + 7 * MICROS))
    for now in (T0, T0 + THRESHOLD - 1, T0 + THRESHOLD, T0 + THRESHOLD + 1, T0 + THRESHOLD + 7 * MICROS):
        change = fleet.next_status_change(now)
        assert change is not None
        assert change > now


def test_next_change_follows_the_latest_fix() -> None:
    fleet = state()
    fleet.apply(1, fix("a", T0))
    fleet.apply(2, fix("a", T0 + 100 * MICROS))
    assert fleet.next_status_change(T0) == T0 + 100 * MICROS + THRESHOLD + 1
    fleet.apply(3, fix("a", T0 + 50 * MICROS))  # late: no effect
    assert fleet.next_status_change(T0) == T0 + 100 * MICROS + THRESHOLD + 1
