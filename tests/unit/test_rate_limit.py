"""Token buckets per credential (DESIGN 2.8)."""

from harbor_fleet.domain.rate_limit import RateLimiter


def test_a_burst_passes_then_requests_wait_for_tokens() -> None:
    limiter = RateLimiter(rate=2, burst=3)
    assert [limiter.retry_after("k", 0.0) for _ in range(3)] == [None, None, None]
    assert limiter.retry_after("k", 0.0) == 1
    assert limiter.retry_after("k", 0.5) is None  # one token back after half a second at 2/s
    assert limiter.retry_after("k", 0.5) == 1


def test_credentials_have_their_own_buckets() -> None:
    limiter = RateLimiter(rate=1, burst=1)
    assert limiter.retry_after("a", 0.0) is None
    assert limiter.retry_after("a", 0.0) == 1
    assert limiter.retry_after("b", 0.0) is None


def test_retry_after_is_whole_seconds_of_the_wait() -> None:
    limiter = RateLimiter(rate=0.25, burst=1)
    assert limiter.retry_after("k", 0.0) is None
    assert limiter.retry_after("k", 0.0) == 4


def test_a_rate_of_zero_is_off() -> None:
    limiter = RateLimiter(rate=0, burst=0)
    assert not limiter.enabled
    assert all(limiter.retry_after("k", 0.0) is None for _ in range(10_000))


def test_buckets_are_bounded() -> None:
    limiter = RateLimiter(rate=1, burst=1, max_buckets=10)
    for n in range(100):
        limiter.retry_after(f"k{n}", 0.0)
    assert len(limiter._buckets) <= 10
