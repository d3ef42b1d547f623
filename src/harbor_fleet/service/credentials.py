"""Who is calling: partner keys (signed requests) and operator tokens (bearer), and for which fleets."""

import hashlib
import secrets
import time
from collections.abc import Callable

from harbor_fleet.adapters.postgres.store import DeviceRecord, KeyRecord, PostgresStore, StoreUnavailable, TokenRecord
from harbor_fleet.domain.fleet import FleetSettings
from harbor_fleet.domain.ids import is_identifier
from harbor_fleet.domain.rate_limit import RateLimiter
from harbor_fleet.domain.signing import signature_matches, timestamp_fresh
from harbor_fleet.service.cache import ReadThrough
from harbor_fleet.service.errors import (
    BadSignature,
    FleetForbidden,
    FleetNotFound,
    InvalidToken,
    MissingCredentials,
    MissingToken,
    RateLimited,
    StaleTimestamp,
    UnknownKey,
)

MAX_CREDENTIAL_LENGTH = 256
SESSION_SECONDS = 12 * 3600  # a browser session of the map lasts a working day


def new_secret() -> str:
    """256 random bits, URL-safe."""
    return secrets.token_urlsafe(32)


def new_id(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(8)}"


def token_digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


class Credentials:
    def __init__(
        self, store: PostgresStore, ttl: float, limiter: RateLimiter, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._clock = clock
        self._limiter = limiter
        stale = (StoreUnavailable,)
        self.fleets = ReadThrough(store.get_fleet, ttl, stale_if_error=stale)
        self._keys = ReadThrough(store.get_key, ttl, stale_if_error=stale)
        self._tokens = ReadThrough(store.get_token, ttl, stale_if_error=stale)
        self._sessions = ReadThrough(store.get_session, ttl, stale_if_error=stale)
        self._store = store

    async def partner(self, key_id: str | None, timestamp: str | None, signature: str | None, body: bytes) -> KeyRecord:
        """The partner key that signed `body`; the checks run missing → unknown → stale → signature."""
        if not key_id or timestamp is None or signature is None:
            raise MissingCredentials
        key = await self._keys.get(key_id) if is_identifier(key_id) else None  # key ids are identifiers
        if key is None:
            raise UnknownKey
        if not timestamp_fresh(timestamp, time.time()):
            raise StaleTimestamp
        if not signature_matches(key.secret, timestamp, body, signature):
            raise BadSignature
        self._limit(f"key:{key_id}")
        return key

    async def operator(self, authorization: str | None, session: str | None = None, limit: bool = True) -> TokenRecord:
        """The operator behind a bearer token or, failing that, a map session cookie. `limit=False`
        re-checks a credential already admitted (an open live stream) without spending its rate."""
        if not authorization and session:
            return await self._session(session, limit)
        if not authorization:
            raise MissingToken
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise MissingToken
        token = token.strip()
        record = await self._tokens.get(token_digest(token)) if len(token) <= MAX_CREDENTIAL_LENGTH else None
        if record is None:
            raise InvalidToken
        if limit:
            self._limit(f"token:{record.token_id}")
        return record

    async def _session(self, session: str, limit: bool) -> TokenRecord:
        record = await self._sessions.get(token_digest(session)) if len(session) <= MAX_CREDENTIAL_LENGTH else None
        if record is None:
            raise InvalidToken("the session has ended; sign in again")
        if limit:
            self._limit(f"token:{record.token_id}")
        return record

    async def sign_in(self, token: str) -> tuple[str, TokenRecord]:
        """A new browser session for a valid operator token: (session id, the token's record)."""
        record = await self.operator(f"Bearer {token}")
        session = new_secret()
        await self._store.create_session(token_digest(session), record.token_id, SESSION_SECONDS)
        return session, record

    async def sign_out(self, session: str) -> None:
        digest = token_digest(session)
        self._sessions.forget(digest)
        await self._store.delete_session(digest)

    async def device(self, token: str | None) -> DeviceRecord:
        """The device a phone app's credential names. Read from PostgreSQL every time (never cached), so a
        revoked device is refused at once by every process; phones report every few seconds at most."""
        if not token:
            raise MissingToken("the device credential is missing")
        record = await self._store.get_device(token_digest(token)) if len(token) <= MAX_CREDENTIAL_LENGTH else None
        if record is None:
            raise InvalidToken("unknown or revoked device credential")
        self._limit(f"device:{record.device_id}")
        return record

    def _limit(self, credential_id: str) -> None:
        retry_after = self._limiter.retry_after(credential_id, self._clock())
        if retry_after is not None:
            raise RateLimited(retry_after=retry_after)

    async def fleet_for(self, allowed: frozenset[str], fleet_id: str) -> FleetSettings:
        """The fleet, when it exists (404 first: fleet ids are not secret) and is allowed (403)."""
        fleet = await self.fleets.get(fleet_id) if is_identifier(fleet_id) else None
        if fleet is None:
            raise FleetNotFound
        if fleet_id not in allowed:
            raise FleetForbidden
        return fleet
