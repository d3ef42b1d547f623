"""Webhook deliveries (DESIGN 2.7, 2.8): the outbox rows the events' transactions wrote are leased by a
dispatch job every second and each attempt is a job of its own, so a slow or dead receiver holds up one
of the worker's concurrent jobs and nothing else (never ingest). An attempt signs the stored body with a
fresh timestamp, as partners sign ingest; 2xx is final, anything else (or no answer within the timeout)
is tried again later with jittered exponential backoff, up to the attempt limit, then recorded dead."""

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx

from harbor_fleet.adapters.dns import non_public_address
from harbor_fleet.adapters.postgres.store import Attempt, DueDelivery, PostgresStore
from harbor_fleet.domain.signing import sign
from harbor_fleet.domain.webhooks import retry_delay
from harbor_fleet.settings import Settings

log = logging.getLogger(__name__)

DISPATCH_BATCH = 200  # deliveries leased per dispatch (every second)
USER_AGENT = "harbor-fleet-webhooks/1"


@dataclass(frozen=True, slots=True)
class WebhookPolicy:
    timeout: float
    max_attempts: int
    retry_base: float
    retry_cap: float
    deny_private: bool

    @property
    def lease_seconds(self) -> float:
        """Long enough for an attempt to be taken and time out; then a lost attempt is tried again."""
        return 3 * self.timeout + 30


def webhook_policy(settings: Settings) -> WebhookPolicy:
    return WebhookPolicy(
        settings.webhook_timeout,
        settings.webhook_max_attempts,
        settings.webhook_retry_base,
        settings.webhook_retry_cap,
        settings.webhook_deny_private,
    )


class Sender:
    """Makes one attempt of a delivery; one HTTP client (and its connection pool) per worker run, made on
    first use and closed when the worker stops (a restarted worker makes a new one)."""

    def __init__(self, policy: WebhookPolicy) -> None:
        self.policy = policy
        self._client: httpx.AsyncClient | None = None

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                timeout=self.policy.timeout, follow_redirects=False, headers={"user-agent": USER_AGENT}
            )
        return self._client

    async def attempt(self, due: DueDelivery) -> Attempt:
        if self.policy.deny_private and (refused := await _private_target(due.url)):
            return Attempt(delivered=False, error=f"refused: {refused} is not a public address", final=True)
        body = due.body.encode()
        timestamp = str(int(time.time()))
        headers = {
            "content-type": "application/json",
            "x-harbor-timestamp": timestamp,
            "x-harbor-signature": "v1=" + sign(due.secret.encode(), timestamp, body),
            "x-harbor-event-id": due.event_id,
        }
        try:
            # One deadline for the whole attempt (httpx's own timeouts are per read), and the answer's body is
            # never read: a receiver can neither hold a job longer nor make the worker buffer its reply.
            async with asyncio.timeout(self.policy.timeout):
                async with self.client.stream("POST", due.url, content=body, headers=headers) as response:
                    status = response.status_code
        except (TimeoutError, httpx.TimeoutException):
            return Attempt(delivered=False, error=f"no answer within {self.policy.timeout:g} s")
        except httpx.HTTPError as error:
            return Attempt(delivered=False, error=f"{type(error).__name__}: {error}"[:300])
        delivered = 200 <= status < 300
        return Attempt(delivered, status, None if delivered else f"answered {status}")

    def retry_at(self, due: DueDelivery, attempt: Attempt) -> datetime | None:
        """When to try again after this attempt; None when it was the last (delivered, final or the limit)."""
        made = due.attempts + 1
        if attempt.delivered or attempt.final or made >= self.policy.max_attempts:
            return None
        delay = retry_delay(made, self.policy.retry_base, self.policy.retry_cap)
        return datetime.now(UTC) + timedelta(seconds=delay)

    async def aclose(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()


async def deliver(store: PostgresStore, sender: Sender, delivery_id: int, attempts: int) -> None:
    """One attempt of the delivery leased with `attempts` made so far (a repeat finds it moved on)."""
    due = await store.due_delivery(delivery_id, attempts)
    if due is None:
        return
    attempt = await sender.attempt(due)
    retry_at = sender.retry_at(due, attempt)
    await store.record_delivery(due, attempt, retry_at)
    if not attempt.delivered and retry_at is None:
        log.warning("webhook delivery dead", extra={"delivery_id": delivery_id, "error": attempt.error})


async def _private_target(url: str) -> str | None:
    try:
        return await non_public_address(url)
    except OSError:
        return None  # the attempt itself reports the name that does not resolve
