"""The store's outage gate: after a failure callers are refused at once, and one at a time probes."""

import pytest

from harbor_fleet.adapters.postgres.store import OutageGate, StoreUnavailable


def test_callers_go_straight_through_while_the_database_is_up() -> None:
    gate = OutageGate(pause=0.5, clock=lambda: 0.0)
    assert gate.admit() is None and gate.admit() is None


def test_after_a_failure_callers_are_refused_until_the_pause_then_one_probes() -> None:
    now = [0.0]
    gate = OutageGate(pause=0.5, clock=lambda: now[0])
    gate.failed()
    with pytest.raises(StoreUnavailable):
        gate.admit()
    now[0] = 0.6
    probe = gate.admit()
    assert probe == OutageGate.PROBE_TIMEOUT  # this caller probes, with a short wait
    with pytest.raises(StoreUnavailable):
        gate.admit()  # the others do not pile up behind it
    gate.failed()
    gate.finished(probe)
    with pytest.raises(StoreUnavailable):
        gate.admit()  # the probe failed: another pause
    now[0] = 1.2
    probe = gate.admit()
    gate.succeeded()
    gate.finished(probe)
    assert gate.admit() is None  # back
