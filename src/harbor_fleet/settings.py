"""Settings, read once from the environment (prefix HARBOR_). Every CLI flag mirrors one of these."""

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HARBOR_", extra="ignore", frozen=True)

    # Store. Unset: the embedded PostgreSQL in data_dir.
    database_url: str | None = None
    data_dir: Path = Path(".harbor")
    migrate_on_start: bool = True
    db_pool_size: int = Field(default=8, ge=1, le=200)

    # The bus between the writer and every process's trackers and live sessions: "postgres" (LISTEN/NOTIFY:
    # any number of processes sharing the database), "memory" (one process only), or a redis:// URL.
    pubsub: str = "postgres"

    # Live stream: frames a client may fall behind by before it gets a fresh snapshot instead, and
    # live connections per operator token.
    live_max_backlog: int = Field(default=1000, ge=1)
    live_max_per_token: int = Field(default=100, ge=1)

    # Web server.
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    workers: int = Field(default=1, ge=1, le=64)
    shutdown_timeout: float = Field(default=10.0, gt=0)
    # Open connections (HTTP and WebSocket) per process; past it new ones get 503 overloaded.
    max_connections: int = Field(default=10_000, ge=1)
    # Seconds a request may take to arrive whole (headers and body), and a new connection to begin one.
    request_timeout: float = Field(default=30.0, gt=0)
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    access_log: bool = False
    # Proxies whose X-Forwarded-For/-Proto are believed (comma-separated addresses or networks, "*" for
    # any): behind a TLS-terminating proxy the scheme is https, and the map's session cookie is Secure.
    forwarded_allow_ips: str = "127.0.0.1"
    # The address phones and partners reach the service at (behind a proxy, its public one): what
    # `device create` tells each app to use. Unset: http://HARBOR_HOST:HARBOR_PORT.
    public_url: str | None = None

    # Group-commit writer: how many fixes one transaction takes, and how many may wait.
    writer_max_batch_fixes: int = Field(default=5000, ge=1)
    writer_max_pending_fixes: int = Field(default=50_000, ge=1)

    # Trackers: bounded mailbox; restart intensity (max_restarts within restart_window seconds),
    # then the fleet is parked (served from PostgreSQL) for park_seconds before it is tried again.
    tracker_mailbox_size: int = Field(default=10_000, ge=1)
    tracker_max_restarts: int = Field(default=3, ge=0)
    tracker_restart_window: float = Field(default=5.0, gt=0)
    tracker_park_seconds: float = Field(default=30.0, gt=0)
    # How often trackers are checked against PostgreSQL and reloaded when behind (e.g. fixes ingested
    # by another process before a shared bus carries them).
    tracker_resync_seconds: float = Field(default=1.0, gt=0)

    # Requests a second per partner key and per operator token, with bursts; 0 turns a limit off.
    # Counted per process: with several workers the effective limit is that many times higher.
    rate_limit_per_second: float = Field(default=1000.0, ge=0)
    rate_limit_burst: float = Field(default=2000.0, ge=0)

    # The live map's tile layer: any {z}/{x}/{y} URL template. With no tiles reachable the map still
    # shows the vehicles, on a plain background.
    map_tiles: str = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
    map_attribution: str = "© OpenStreetMap contributors"

    # How long a cached credential or fleet is trusted before it is read again from PostgreSQL.
    credential_cache_seconds: float = Field(default=1.0, ge=0)

    # Background jobs (offline sweep, retention, webhooks): every `serve` process runs a worker unless
    # turned off (then run `harbor-fleet worker` somewhere); jobs run at once per worker, and the worker's
    # own connections to PostgreSQL.
    jobs_in_serve: bool = True
    # Webhook deliveries: a receiver answers 2xx within the timeout or the delivery is tried again, after
    # retry_base seconds doubling up to retry_cap (with jitter), up to max_attempts in all, then recorded
    # dead. deny_private refuses loopback and private addresses (advised in production).
    webhook_timeout: float = Field(default=10.0, gt=0)
    webhook_max_attempts: int = Field(default=10, ge=1, le=100)
    webhook_retry_base: float = Field(default=2.0, gt=0)
    webhook_retry_cap: float = Field(default=3600.0, gt=0)
    webhook_deny_private: bool = False
    job_concurrency: int = Field(default=10, ge=1, le=1000)
    job_pool_size: int = Field(default=4, ge=2, le=100)

    @field_validator("pubsub")
    @classmethod
    def _known_bus(cls, value: str) -> str:
        if value in ("memory", "postgres") or value.startswith(("redis://", "rediss://", "unix://")):
            return value
        raise ValueError('must be "postgres", "memory" or a redis:// URL')


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment, with CLI flags (those not None) taking precedence."""
    given = {key: value for key, value in overrides.items() if value is not None}
    return Settings(**given)  # type: ignore[arg-type]
