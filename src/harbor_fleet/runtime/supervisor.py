"""A small one-for-one supervisor for asyncio tasks.

A child is an async function taking a `started` callback, which it calls once it is ready (the
readiness handshake). A child that raises is restarted; a child that crashes more than
`max_restarts` times within `window` seconds is parked for `park_seconds` and then tried again, so a
child that can never start does not spin. Every child task is named and owned here; `aclose` cancels
them all and waits for them.
"""

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import Enum

log = logging.getLogger(__name__)

Started = Callable[[], None]
ChildTarget = Callable[[Started], Awaitable[None]]


class ChildState(Enum):
    STARTING = "starting"
    RUNNING = "running"
    PARKED = "parked"
    STOPPED = "stopped"


@dataclass(frozen=True, slots=True)
class RestartPolicy:
    max_restarts: int = 3
    window: float = 5.0
    park_seconds: float = 30.0


@dataclass(slots=True)
class _Child:
    name: str
    target: ChildTarget
    task: asyncio.Task[None] | None = None
    state: ChildState = ChildState.STARTING
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    crashes: deque[float] = field(default_factory=deque)


class Supervisor:
    def __init__(
        self,
        name: str,
        policy: RestartPolicy,
        *,
        on_restart: Callable[[str], None] = lambda name: None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._name = name
        self._policy = policy
        self._on_restart = on_restart
        self._clock = clock
        self._children: dict[str, _Child] = {}
        self._closed = False

    def start_child(self, name: str, target: ChildTarget) -> None:
        if self._closed:
            raise RuntimeError(f"supervisor {self._name} is closed")
        if name in self._children:
            raise ValueError(f"child {name} is already supervised")
        child = _Child(name, target)
        child.task = asyncio.get_running_loop().create_task(self._supervise(child), name=f"{self._name}:{name}")
        self._children[name] = child

    def state(self, name: str) -> ChildState:
        child = self._children.get(name)
        return child.state if child else ChildState.STOPPED

    async def wait_ready(self, name: str, timeout: float) -> bool:
        child = self._children.get(name)
        if child is None:
            return False
        try:
            async with asyncio.timeout(timeout):
                await child.ready.wait()
        except TimeoutError:
            return False
        return True

    async def wait_stopped(self, name: str) -> None:
        """Wait until the child has returned (it is not restarted after a normal return)."""
        child = self._children.get(name)
        if child and child.task:
            await asyncio.wait({child.task})

    async def stop_child(self, name: str) -> None:
        child = self._children.pop(name, None)
        if child and child.task:
            child.task.cancel()
            await asyncio.gather(child.task, return_exceptions=True)

    async def aclose(self, timeout: float | None = None) -> None:
        """Cancel every child and wait for them; after `timeout` seconds, give up on (and name) any child
        that has not stopped, so that a child ignoring its cancellation cannot hold up the process's exit."""
        self._closed = True
        tasks = {child.task for child in self._children.values() if child.task}
        for task in tasks:
            task.cancel()
        if tasks:
            done, stuck = await asyncio.wait(tasks, timeout=timeout)
            for task in done:
                if not task.cancelled():
                    task.exception()  # retrieved: a child's failure was logged where it happened
            if stuck:
                log.error("children did not stop", extra={"supervisor": self._name, "children": _names(stuck)})
        self._children.clear()

    async def _supervise(self, child: _Child) -> None:
        while True:
            child.state = ChildState.STARTING
            child.ready.clear()
            try:
                await child.target(lambda: self._mark_ready(child))
            except asyncio.CancelledError:
                if _being_cancelled():
                    child.state = ChildState.STOPPED
                    raise
                log.exception(
                    "child ended by a stray cancellation", extra={"supervisor": self._name, "child": child.name}
                )
            except Exception:
                if _being_cancelled():
                    # A child that turns its cancellation into an error (a library failing in its own
                    # clean-up) has still been told to stop: restarting it would leave aclose waiting forever.
                    log.exception("child failed while stopping", extra={"supervisor": self._name, "child": child.name})
                    child.state = ChildState.STOPPED
                    raise asyncio.CancelledError from None
                log.exception("child crashed", extra={"supervisor": self._name, "child": child.name})
            else:
                child.state = ChildState.STOPPED
                self._children.pop(child.name, None)
                return
            await self._before_restart(child)

    def _mark_ready(self, child: _Child) -> None:
        child.state = ChildState.RUNNING
        child.ready.set()

    async def _before_restart(self, child: _Child) -> None:
        child.ready.clear()
        now = self._clock()
        child.crashes.append(now)
        while child.crashes and child.crashes[0] < now - self._policy.window:
            child.crashes.popleft()
        if len(child.crashes) > self._policy.max_restarts:
            child.state = ChildState.PARKED
            log.error("child parked", extra={"supervisor": self._name, "child": child.name})
            await asyncio.sleep(self._policy.park_seconds)  # the cool-down, not synchronisation
            child.crashes.clear()
        self._on_restart(child.name)


def _names(tasks: set[asyncio.Task[None]]) -> list[str]:
    return sorted(task.get_name() for task in tasks)


def _being_cancelled() -> bool:
    """True when this task itself is being cancelled (not a child awaiting something cancelled)."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0
