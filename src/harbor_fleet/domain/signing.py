"""Request signatures: HMAC-SHA256 over `"<timestamp>." + body`, hex, `v1=` scheme (DESIGN 2.1)."""

import hashlib
import hmac
import re

TIMESTAMP_TOLERANCE_S = 300
_UNIX_SECONDS = re.compile(r"-?[0-9]{1,19}")


def sign(secret: bytes, timestamp: str, body: bytes) -> str:
    return hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def signature_matches(secret: bytes, timestamp: str, body: bytes, header: str) -> bool:
    """True when any `v1=` value of the (comma-separated) header is the right signature."""
    expected = sign(secret, timestamp, body).encode()
    matched = False
    for part in header.split(","):
        scheme, _, value = part.strip().partition("=")
        if scheme == "v1":
            # No early exit: every candidate is compared, each in constant time.
            matched |= hmac.compare_digest(expected, value.encode("ascii", "replace"))
    return matched


def timestamp_fresh(timestamp: str, now: float) -> bool:
    """An integer of unix seconds within the tolerance of `now`."""
    if _UNIX_SECONDS.fullmatch(timestamp) is None:
        return False
    return abs(int(timestamp) - now) <= TIMESTAMP_TOLERANCE_S
