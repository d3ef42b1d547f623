"""Webhook rules (DESIGN 2.7, 2.8): which events a webhook may choose, which URLs it may have, and when a
failed delivery is tried again."""

import ipaddress
import random
from collections.abc import Callable, Iterable
from urllib.parse import urlsplit

EVENT_TYPES = ("position", "vehicle_status")


class InvalidWebhook(ValueError):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def event_types(chosen: str | None) -> list[str]:
    """The comma-separated types chosen (none: every type), checked."""
    if chosen is None:
        return list(EVENT_TYPES)
    picked = sorted({part.strip() for part in chosen.split(",") if part.strip()})
    unknown = [name for name in picked if name not in EVENT_TYPES]
    if not picked or unknown:
        raise InvalidWebhook("invalid_events", f"--events takes some of {', '.join(EVENT_TYPES)}")
    return picked


def check_url(url: str) -> str:
    """An absolute http(s) URL with a host, without credentials in it."""
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises on a malformed port
    except ValueError as error:
        raise InvalidWebhook("invalid_url", f"not a URL: {error}") from error
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidWebhook("invalid_url", "a webhook URL is http:// or https:// with a host")
    if parts.username or parts.password:
        raise InvalidWebhook("invalid_url", "credentials do not belong in a webhook URL (it is shown in listings)")
    return url


def private_address(addresses: Iterable[str]) -> str | None:
    """The first loopback, private, link-local or otherwise non-public address among `addresses`."""
    for text in addresses:
        address = ipaddress.ip_address(text.split("%")[0])
        if not address.is_global:
            return text
    return None


def retry_delay(failed_attempts: int, base: float, cap: float, draw: Callable[[], float] = random.random) -> float:
    """Seconds before the next attempt after `failed_attempts` failures: `base` doubling each time up to
    `cap`, with ±25 % jitter so that receivers coming back are not hit by every retry at once."""
    exponential = min(cap, base * 2.0 ** max(0, failed_attempts - 1))
    return float(exponential * (0.75 + 0.5 * draw()))
