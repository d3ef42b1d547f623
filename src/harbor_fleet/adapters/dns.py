"""Name resolution for the webhook address rule (HARBOR_WEBHOOK_DENY_PRIVATE)."""

import asyncio
from urllib.parse import urlsplit

from harbor_fleet.domain.webhooks import private_address


async def non_public_address(url: str) -> str | None:
    """The first address the URL's host resolves to that is not public (loopback, private, link-local…),
    or None; OSError when the host does not resolve."""
    host = urlsplit(url).hostname or ""
    infos = await asyncio.get_running_loop().getaddrinfo(host, None)
    return private_address(str(info[4][0]) for info in infos)
