"""Token buckets: `rate` requests a second on average, bursts up to `burst` (DESIGN 2.8)."""

import math
from dataclasses import dataclass


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """One bucket per credential id. Only authenticated ids reach it, so it holds at most one bucket
    per existing credential; `max_buckets` bounds it even so."""

    def __init__(self, rate: float, burst: float, max_buckets: int = 100_000) -> None:
        self._rate = rate
        self._burst = max(burst, 1.0)
        self._max_buckets = max_buckets
        self._buckets: dict[str, _Bucket] = {}

    @property
    def enabled(self) -> bool:
        return self._rate > 0

    def retry_after(self, credential_id: str, now: float) -> int | None:
        """None when the request may go ahead (and is counted); else whole seconds to wait."""
        if self._rate <= 0:
            return None
        bucket = self._buckets.get(credential_id)
        if bucket is None:
            if len(self._buckets) >= self._max_buckets:
                self._buckets.clear()
            bucket = self._buckets[credential_id] = _Bucket(self._burst, now)
        bucket.tokens = min(self._burst, bucket.tokens + (now - bucket.updated) * self._rate)
        bucket.updated = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return None
        return max(1, math.ceil((1.0 - bucket.tokens) / self._rate))
