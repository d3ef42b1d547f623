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
