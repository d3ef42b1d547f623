"""The one-for-one supervisor: readiness, restarts, parking, isolation and shutdown.

No test sleeps to synchronise: they wait on conditions with `eventually` (bounded by a deadline) or on
the supervisor's own events. The only real waiting is the supervisor's park cool-down, kept tiny.
"""

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

import pytest

from harbor_fleet.runtime.supervisor import ChildState, RestartPolicy, Supervisor

TIMEOUT = 2.0


async def eventually(predicate: Callable[[], bool], timeout: float = TIMEOUT) -> None:
    """Yield to the loop until `predicate()` holds; fail once `timeout` seconds have passed."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    spins = 0
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        spins += 1
        # Mostly pure yields; now and then a short wait so that timers (the park cool-down) can fire.
        await asyncio.sleep(0 if spins % 50 else 0.001)  # a yield under the deadline above


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Child:
    """A child target: crashes on its first `crash_first` starts, then reports ready and runs until released."""

    def __init__(self, crash_first: int = 0, *, before_crash: Callable[[], None] = lambda: None) -> None:
        self.crash_first = crash_first
        self.before_crash = before_crash
        self.starts = 0
        self.started_at: list[float] = []  # loop time of each start
        self.cancelled = 0
        self.release = asyncio.Event()

    async def __call__(self, started: Callable[[], None]) -> None:
        self.starts += 1
        self.started_at.append(asyncio.get_running_loop().time())
        try:
            if self.starts <= self.crash_first:
                self.before_crash()
                raise RuntimeError(f"crash {self.starts}")
            started()
            await self.release.wait()
        except asyncio.CancelledError:
            self.cancelled += 1
            raise


class Restarts:
    def __init__(self) -> None:
        self.names: list[str] = []

    def __call__(self, name: str) -> None:
        self.names.append(name)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def restarts() -> Restarts:
    return Restarts()


@pytest.fixture
async def supervisor(clock: FakeClock, restarts: Restarts) -> AsyncIterator[Supervisor]:
    sup = Supervisor(
        "test", RestartPolicy(max_restarts=2, window=5.0, park_seconds=0.05), on_restart=restarts, clock=clock
    )
    yield sup
    async with asyncio.timeout(TIMEOUT):
        await sup.aclose()


async def test_eventually_fails_after_its_deadline() -> None:
    with pytest.raises(AssertionError):
        await eventually(lambda: False, timeout=0.01)


# --- readiness -------------------------------------------------------------------------------------


async def test_started_child_is_running_and_ready(supervisor: Supervisor) -> None:
    child = Child()
    supervisor.start_child("a", child)
    assert await supervisor.wait_ready("a", TIMEOUT)
    assert supervisor.state("a") is ChildState.RUNNING
    assert child.starts == 1


async def test_child_not_yet_started_is_starting(supervisor: Supervisor) -> None:
    gate = asyncio.Event()

    async def slow(started: Callable[[], None]) -> None:
        await gate.wait()
        started()
        await asyncio.Event().wait()

    supervisor.start_child("slow", slow)
    assert supervisor.state("slow") is ChildState.STARTING
    assert not await supervisor.wait_ready("slow", 0.01)
    assert supervisor.state("slow") is ChildState.STARTING
    gate.set()
    assert await supervisor.wait_ready("slow", TIMEOUT)
    assert supervisor.state("slow") is ChildState.RUNNING


async def test_wait_ready_of_unknown_child_is_false(supervisor: Supervisor) -> None:
    assert not await supervisor.wait_ready("nobody", TIMEOUT)
    assert supervisor.state("nobody") is ChildState.STOPPED


async def test_duplicate_name_is_refused(supervisor: Supervisor) -> None:
    supervisor.start_child("a", Child())
    with pytest.raises(ValueError):
        supervisor.start_child("a", Child())


# --- restarts --------------------------------------------------------------------------------------


async def test_crashing_child_is_restarted_and_becomes_ready(supervisor: Supervisor, restarts: Restarts) -> None:
    child = Child(crash_first=1)
    supervisor.start_child("a", child)
    assert await supervisor.wait_ready("a", TIMEOUT)
    assert child.starts == 2
    assert restarts.names == ["a"]
    assert supervisor.state("a") is ChildState.RUNNING


async def test_crash_after_ready_is_restarted(supervisor: Supervisor, restarts: Restarts) -> None:
    crash = asyncio.Event()
    starts = 0

    async def flaky(started: Callable[[], None]) -> None:
        nonlocal starts
        starts += 1
        started()
        if starts == 1:
            await crash.wait()
            raise RuntimeError("crash while running")
        await asyncio.Event().wait()

    supervisor.start_child("a", flaky)
    assert await supervisor.wait_ready("a", TIMEOUT)
    crash.set()
    await eventually(lambda: starts == 2)
    assert await supervisor.wait_ready("a", TIMEOUT)
    assert restarts.names == ["a"]
    assert supervisor.state("a") is ChildState.RUNNING


async def test_restarts_up_to_the_limit_are_not_parked(supervisor: Supervisor, restarts: Restarts) -> None:
    child = Child(crash_first=2)  # max_restarts=2: two crashes in the window are allowed
    supervisor.start_child("a", child)
    assert await supervisor.wait_ready("a", TIMEOUT)
    assert child.starts == 3
    assert restarts.names == ["a", "a"]


async def test_crash_logged(supervisor: Supervisor, caplog: pytest.LogCaptureFixture) -> None:
    supervisor.start_child("a", Child(crash_first=1))
    assert await supervisor.wait_ready("a", TIMEOUT)
    crashes = [r for r in caplog.records if r.exc_info and isinstance(r.exc_info[1], RuntimeError)]
    assert len(crashes) == 1


# --- parking ---------------------------------------------------------------------------------------


async def test_too_many_crashes_in_the_window_park_the_child(clock: FakeClock, restarts: Restarts) -> None:
    sup = Supervisor("t", RestartPolicy(max_restarts=2, window=5.0, park_seconds=60), on_restart=restarts, clock=clock)
    child = Child(crash_first=1_000)
    try:
        sup.start_child("a", child)
        await eventually(lambda: sup.state("a") is ChildState.PARKED)
        # Three crashes (more than max_restarts=2) in the window: two restarts, then parked.
        assert child.starts == 3
        assert restarts.names == ["a", "a"]
        assert not await sup.wait_ready("a", 0.01)
        assert child.starts == 3
        assert sup.state("a") is ChildState.PARKED
    finally:
        async with asyncio.timeout(TIMEOUT):
            await sup.aclose()


async def test_parked_child_is_tried_again_after_the_cool_down(supervisor: Supervisor, restarts: Restarts) -> None:
    # park_seconds=0.05: three fast crashes park the child, then the fourth start succeeds.
    child = Child(crash_first=3)
    supervisor.start_child("a", child)
    await eventually(lambda: supervisor.state("a") is ChildState.PARKED)
    assert child.starts == 3
    assert await supervisor.wait_ready("a", TIMEOUT)
    assert child.starts == 4
    # The fourth start came only after the cool-down (loop time, not a sleep in this test).
    assert child.started_at[3] - child.started_at[2] >= 0.04
    assert restarts.names == ["a", "a", "a"]
    assert supervisor.state("a") is ChildState.RUNNING


async def test_crashes_outside_the_window_do_not_park(clock: FakeClock, restarts: Restarts) -> None:
    def next_crash_much_later() -> None:
        clock.now += 5.1

    sup = Supervisor("t", RestartPolicy(max_restarts=1, window=5.0, park_seconds=60), on_restart=restarts, clock=clock)
    child = Child(crash_first=10, before_crash=next_crash_much_later)
    try:
        sup.start_child("a", child)
        assert await sup.wait_ready("a", TIMEOUT)
        assert child.starts == 11
        assert len(restarts.names) == 10
    finally:
        async with asyncio.timeout(TIMEOUT):
            await sup.aclose()


async def test_the_window_uses_the_injected_clock(clock: FakeClock, restarts: Restarts) -> None:
    """The same crashes as above but with the clock standing still: parked after the second."""
    sup = Supervisor("t", RestartPolicy(max_restarts=1, window=5.0, park_seconds=60), on_restart=restarts, clock=clock)
    child = Child(crash_first=10)
    try:
        sup.start_child("a", child)
        await eventually(lambda: sup.state("a") is ChildState.PARKED)
        assert child.starts == 2
        assert restarts.names == ["a"]
    finally:
        async with asyncio.timeout(TIMEOUT):
            await sup.aclose()


async def test_max_restarts_zero_parks_on_the_first_crash(clock: FakeClock, restarts: Restarts) -> None:
    sup = Supervisor("t", RestartPolicy(max_restarts=0, window=5.0, park_seconds=60), on_restart=restarts, clock=clock)
    child = Child(crash_first=10)
    try:
        sup.start_child("a", child)
        await eventually(lambda: sup.state("a") is ChildState.PARKED)
        assert child.starts == 1
        assert restarts.names == []
    finally:
        async with asyncio.timeout(TIMEOUT):
            await sup.aclose()


# --- isolation -------------------------------------------------------------------------------------


async def test_a_crash_never_affects_another_child(supervisor: Supervisor, restarts: Restarts) -> None:
    steady = Child()
    supervisor.start_child("steady", steady)
    assert await supervisor.wait_ready("steady", TIMEOUT)

    crasher = Child(crash_first=1_000)
    supervisor.start_child("crasher", crasher)
    await eventually(lambda: crasher.starts >= 3)

    assert supervisor.state("steady") is ChildState.RUNNING
    assert await supervisor.wait_ready("steady", 0.01)
    assert steady.starts == 1
    assert steady.cancelled == 0
    assert "steady" not in restarts.names


# --- stopping --------------------------------------------------------------------------------------


async def test_aclose_cancels_every_child(clock: FakeClock) -> None:
    sup = Supervisor("t", RestartPolicy(park_seconds=60), clock=clock)
    first, second = Child(), Child()
    sup.start_child("first", first)
    sup.start_child("second", second)
    assert await sup.wait_ready("first", TIMEOUT)
    assert await sup.wait_ready("second", TIMEOUT)
    async with asyncio.timeout(TIMEOUT):
        await sup.aclose()
    assert (first.cancelled, second.cancelled) == (1, 1)
    assert sup.state("first") is ChildState.STOPPED
    assert sup.state("second") is ChildState.STOPPED


async def test_aclose_cancels_a_parked_child(clock: FakeClock) -> None:
    sup = Supervisor("t", RestartPolicy(max_restarts=0, window=5.0, park_seconds=3600), clock=clock)
    child = Child(crash_first=10)
    sup.start_child("a", child)
    await eventually(lambda: sup.state("a") is ChildState.PARKED)
    async with asyncio.timeout(TIMEOUT):
        await sup.aclose()
    assert sup.state("a") is ChildState.STOPPED
    assert child.starts == 1


async def test_closed_supervisor_refuses_children(clock: FakeClock) -> None:
    sup = Supervisor("t", RestartPolicy(), clock=clock)
    await sup.aclose()
    with pytest.raises(RuntimeError):
        sup.start_child("a", Child())


async def test_stop_child_stops_only_that_child(supervisor: Supervisor, restarts: Restarts) -> None:
    keep, stop = Child(), Child()
    supervisor.start_child("keep", keep)
    supervisor.start_child("stop", stop)
    assert await supervisor.wait_ready("keep", TIMEOUT)
    assert await supervisor.wait_ready("stop", TIMEOUT)

    async with asyncio.timeout(TIMEOUT):
        await supervisor.stop_child("stop")

    assert stop.cancelled == 1
    assert supervisor.state("stop") is ChildState.STOPPED
    assert stop.starts == 1  # not restarted
    assert restarts.names == []
    assert supervisor.state("keep") is ChildState.RUNNING
    assert keep.cancelled == 0


async def test_stopped_name_can_be_reused(supervisor: Supervisor) -> None:
    supervisor.start_child("a", Child())
    assert await supervisor.wait_ready("a", TIMEOUT)
    await supervisor.stop_child("a")
    again = Child()
    supervisor.start_child("a", again)
    assert await supervisor.wait_ready("a", TIMEOUT)
    assert again.starts == 1


async def test_stop_unknown_child_is_a_no_op(supervisor: Supervisor) -> None:
    await supervisor.stop_child("nobody")


async def test_wait_stopped_returns_when_the_child_returns(supervisor: Supervisor, restarts: Restarts) -> None:
    child = Child()
    supervisor.start_child("a", child)
    assert await supervisor.wait_ready("a", TIMEOUT)

    waiter = asyncio.create_task(supervisor.wait_stopped("a"))
    for _ in range(5):
        await asyncio.sleep(0)  # yields only; the deadline is the timeout below
    assert not waiter.done()

    child.release.set()
    async with asyncio.timeout(TIMEOUT):
        await waiter
    assert supervisor.state("a") is ChildState.STOPPED
    assert child.starts == 1  # a normal return is not restarted
    assert child.cancelled == 0
    assert restarts.names == []


async def test_wait_stopped_of_unknown_child_returns(supervisor: Supervisor) -> None:
    async with asyncio.timeout(TIMEOUT):
        await supervisor.wait_stopped("nobody")


async def test_a_stray_cancellation_inside_a_child_is_a_crash_and_restarts_it() -> None:
    starts = 0

    async def child(started) -> None:  # type: ignore[no-untyped-def]
        nonlocal starts
        starts += 1
        started()
        if starts == 1:
            cancelled = asyncio.get_running_loop().create_future()
            cancelled.cancel()
            await cancelled  # raises CancelledError though nobody cancelled this task
        await asyncio.Event().wait()

    supervisor = Supervisor("s", RestartPolicy(max_restarts=3, window=5.0, park_seconds=0.05))
    supervisor.start_child("c", child)
    await eventually(lambda: starts == 2 and supervisor.state("c") is ChildState.RUNNING)
    await supervisor.aclose()


async def test_a_child_that_fails_while_being_stopped_is_not_restarted(restarts: Restarts) -> None:
    starts = 0

    async def child(started) -> None:  # type: ignore[no-untyped-def]
        nonlocal starts
        starts += 1
        started()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            raise RuntimeError("its clean-up failed") from None  # the cancellation becomes an error

    supervisor = Supervisor("s", RestartPolicy(max_restarts=3, window=5.0, park_seconds=0.05), on_restart=restarts)
    supervisor.start_child("c", child)
    assert await supervisor.wait_ready("c", TIMEOUT)
    async with asyncio.timeout(TIMEOUT):
        await supervisor.aclose()
    assert (starts, restarts.names, supervisor.state("c")) == (1, [], ChildState.STOPPED)


async def test_aclose_gives_up_on_a_child_that_ignores_its_cancellation(caplog: pytest.LogCaptureFixture) -> None:
    release = asyncio.Event()

    async def stubborn(started) -> None:  # type: ignore[no-untyped-def]
        started()
        while not release.is_set():
            with contextlib.suppress(asyncio.CancelledError):
                await release.wait()

    supervisor = Supervisor("s", RestartPolicy())
    supervisor.start_child("stubborn", stubborn)
    assert await supervisor.wait_ready("stubborn", TIMEOUT)
    async with asyncio.timeout(TIMEOUT):
        await supervisor.aclose(timeout=0.05)
    assert "children did not stop" in caplog.text
    release.set()  # let it end, so the loop closes cleanly
