"""The read-through credential cache: never remembers "not found", trusts an entry for its TTL."""

import pytest

from harbor_fleet.service.cache import ReadThrough


class Source:
    def __init__(self) -> None:
        self.values: dict[str, str] = {}
        self.reads = 0

    async def load(self, key: str) -> str | None:
        self.reads += 1
        return self.values.get(key)


@pytest.fixture
def clock() -> list[float]:
    return [0.0]


async def test_a_miss_is_read_every_time_and_a_new_entry_is_seen_at_once(clock: list[float]) -> None:
    source = Source()
    cache = ReadThrough(source.load, ttl=1.0, clock=lambda: clock[0])
    assert await cache.get("k") is None
    source.values["k"] = "v"
    assert await cache.get("k") == "v"
    assert source.reads == 2


async def test_an_entry_is_trusted_for_its_ttl_then_read_again(clock: list[float]) -> None:
    source = Source()
    source.values["k"] = "v1"
    cache = ReadThrough(source.load, ttl=1.0, clock=lambda: clock[0])
    assert await cache.get("k") == "v1"
    source.values["k"] = "v2"
    clock[0] = 0.9
    assert await cache.get("k") == "v1"
    clock[0] = 1.1
    assert await cache.get("k") == "v2"
    del source.values["k"]
    clock[0] = 2.5
    assert await cache.get("k") is None  # revoked: gone after the TTL
    assert source.reads == 3


async def test_the_cache_is_bounded(clock: list[float]) -> None:
    source = Source()
    source.values.update({f"k{n}": "v" for n in range(50)})
    cache = ReadThrough(source.load, ttl=60.0, max_entries=10, clock=lambda: clock[0])
    for n in range(50):
        await cache.get(f"k{n}")
    assert len(cache._entries) <= 10


async def test_concurrent_misses_of_one_key_share_one_read(clock: list[float]) -> None:
    import asyncio

    release, reading, all_in = asyncio.Event(), asyncio.Event(), asyncio.Event()

    class Slow(Source):
        async def load(self, key: str) -> str | None:
            self.reads += 1
            reading.set()
            await release.wait()
            return "v"

    source = Slow()
    cache = ReadThrough(source.load, ttl=1.0, clock=lambda: clock[0])
    arrived = 0

    async def get() -> str | None:
        nonlocal arrived
        arrived += 1
        if arrived == 20:
            all_in.set()  # set as the last caller enters the cache, which has nothing to wait for before the read
        return await cache.get("k")

    waiters = [asyncio.ensure_future(get()) for _ in range(20)]
    async with asyncio.timeout(5):  # every waiter is inside the cache and the one read has begun
        await all_in.wait()
        await reading.wait()
    release.set()
    async with asyncio.timeout(5):
        assert await asyncio.gather(*waiters) == ["v"] * 20
    assert source.reads == 1


async def test_a_failed_read_fails_its_waiters_and_the_next_get_reads_again(clock: list[float]) -> None:
    class Failing(Source):
        async def load(self, key: str) -> str | None:
            self.reads += 1
            if self.reads == 1:
                raise ConnectionError("down")
            return "v"

    source = Failing()
    cache = ReadThrough(source.load, ttl=1.0, clock=lambda: clock[0])
    with pytest.raises(ConnectionError):
        await cache.get("k")
    assert await cache.get("k") == "v"


class Down(Exception):
    pass


async def test_an_expired_entry_is_answered_while_reads_fail_with_a_stale_error(clock: list[float]) -> None:
    source = Source()
    source.values["k"] = "v1"
    cache = ReadThrough(source.load, ttl=1.0, clock=lambda: clock[0], stale_if_error=(Down,))

    async def failing(key: str) -> str | None:
        raise Down

    assert await cache.get("k") == "v1"
    cache._load = failing  # the database goes away
    clock[0] = 5.0
    assert await cache.get("k") == "v1"  # known before the outage: still answered
    with pytest.raises(Down):
        await cache.get("never-seen")  # unknown: nothing to vouch for it
    cache._load = source.load
    source.values["k"] = "v2"
    assert await cache.get("k") == "v2"  # back: read again


async def test_other_errors_are_not_hidden_by_a_stale_entry(clock: list[float]) -> None:
    calls = []

    async def load(key: str) -> str | None:
        calls.append(key)
        if len(calls) > 1:
            raise ValueError("a bug, not an outage")
        return "v"

    cache = ReadThrough(load, ttl=1.0, clock=lambda: clock[0], stale_if_error=(Down,))
    assert await cache.get("k") == "v"
    clock[0] = 2.0
    with pytest.raises(ValueError):
        await cache.get("k")


async def test_a_stale_entry_is_answered_only_so_long(clock: list[float]) -> None:
    source = Source()
    source.values["k"] = "v"
    cache = ReadThrough(source.load, ttl=1.0, clock=lambda: clock[0], stale_if_error=(Down,), max_stale=60.0)

    async def failing(key: str) -> str | None:
        raise Down

    assert await cache.get("k") == "v"
    cache._load = failing
    clock[0] = 60.0  # expired at 1.0: 59 s stale
    assert await cache.get("k") == "v"
    clock[0] = 62.0
    with pytest.raises(Down):
        await cache.get("k")
