"""Operations endpoints: /health (alive), /ready (database, schema, bus; and the job queue, which informs
but never fails readiness: a backlog of jobs is no reason to stop serving), /metrics."""

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from prometheus_client import CONTENT_TYPE_LATEST
from starlette.requests import Request
from starlette.responses import Response

from harbor_fleet import metrics
from harbor_fleet.adapters.postgres.migrations import REQUIRED_VERSION
from harbor_fleet.adapters.postgres.store import StoreUnavailable
from harbor_fleet.web.call import error_reply, json_reply
from harbor_fleet.web.responses import to_response

if TYPE_CHECKING:
    from harbor_fleet.web.api import Api


async def health(request: Request) -> Response:
    return to_response(json_reply({"status": "ok"}))


def metrics_endpoint(api: "Api") -> Callable[[Request], Awaitable[Response]]:
    async def scrape(request: Request) -> Response:
        await _queue(api)
        return Response(metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

    return scrape


def ready_endpoint(api: "Api") -> Callable[[Request], Awaitable[Response]]:
    async def ready(request: Request) -> Response:
        checks = await _checks(api)
        if all(value == "ok" for value in checks.values()):
            return to_response(json_reply({"status": "ready", "checks": checks, "jobs": await _queue(api)}))
        return to_response(error_reply(503, "not_ready", "a dependency is not ready", {"checks": checks}))

    return ready


async def _queue(api: "Api") -> dict[str, float] | None:
    """The job queue's figures (also set on the gauges), or None when they cannot be read."""
    if api.app is None:
        return None
    try:
        if await api.app.store.schema_version() < REQUIRED_VERSION:
            return None  # the queue's tables may not exist yet
        stats = await api.app.store.queue_stats()
    except StoreUnavailable:
        return None
    metrics.JOBS_WAITING.set(stats.waiting)
    metrics.JOBS_FAILED.set(stats.failed)
    metrics.JOBS_OLDEST.set(stats.oldest_waiting_s)
    return {"waiting": stats.waiting, "failed": stats.failed, "oldest_waiting_seconds": stats.oldest_waiting_s}


async def _checks(api: "Api") -> dict[str, str]:
    if api.app is None:
        return {"database": "starting", "migrations": "starting", "bus": "starting"}
    checks = {"database": "ok", "migrations": "ok", "bus": "ok" if api.app.bus.healthy else "disconnected"}
    try:
        version = await api.app.store.schema_version()
    except StoreUnavailable as error:
        checks["database"] = f"unavailable: {error}"[:200]
        checks["migrations"] = "unknown"
        return checks
    if version < REQUIRED_VERSION:
        checks["migrations"] = f"schema version {version} is older than the {REQUIRED_VERSION} this code needs"
    return checks
