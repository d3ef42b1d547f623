"""Commands that create fleets, credentials and webhooks (the CLI's), with their rules."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from harbor_fleet.adapters.dns import non_public_address
from harbor_fleet.adapters.postgres.store import CredentialInfo, DeliveryInfo, PostgresStore, WebhookInfo
from harbor_fleet.domain.fleet import FleetSettings
from harbor_fleet.domain.ids import is_identifier
from harbor_fleet.domain.webhooks import InvalidWebhook, check_url, event_types
from harbor_fleet.service.credentials import new_id, new_secret, token_digest


class AdminError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class IssuedKey:
    key_id: str
    secret: str


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token_id: str
    token: str


@dataclass(frozen=True, slots=True)
class IssuedWebhook:
    webhook_id: str
    secret: str


DELIVERY_STATUSES = ("pending", "delivered", "dead")


class Admin:
    def __init__(self, store: PostgresStore, deny_private_webhooks: bool = False) -> None:
        self._store = store
        self._deny_private = deny_private_webhooks

    @property
    def store(self) -> PostgresStore:
        return self._store

    async def create_fleet(self, fleet: FleetSettings) -> FleetSettings:
        if not is_identifier(fleet.fleet_id):
            raise AdminError(
                "invalid_fleet_id", "a fleet id is 1-64 characters of A-Z a-z 0-9 . _ : -, starting alphanumeric"
            )
        if not 1 <= fleet.offline_after_s <= 86_400:
            raise AdminError("invalid_offline_after", "--offline-after must be 1-86400 seconds")
        if fleet.retention_days < 1:
            raise AdminError("invalid_retention", "--retention-days must be at least 1")
        if fleet.max_vehicles < 1:
            raise AdminError("invalid_max_vehicles", "--max-vehicles must be at least 1")
        if not await self._store.create_fleet(fleet):
            raise AdminError("fleet_exists", f"fleet {fleet.fleet_id} exists already")
        return fleet

    async def create_key(self, fleet_ids: Sequence[str]) -> IssuedKey:
        await self._require_fleets(fleet_ids)
        issued = IssuedKey(new_id("key"), new_secret())
        await self._store.create_key(issued.key_id, issued.secret, sorted(set(fleet_ids)))
        return issued

    async def create_token(self, fleet_ids: Sequence[str]) -> IssuedToken:
        await self._require_fleets(fleet_ids)
        issued = IssuedToken(new_id("tok"), new_secret())
        await self._store.create_token(issued.token_id, token_digest(issued.token), sorted(set(fleet_ids)))
        return issued

    async def rotate_key(self, key_id: str) -> IssuedKey:
        """A new key for the same fleets; the old one stays valid until it is revoked, so a partner can
        switch its senders over without a moment in which neither key works."""
        fleet_ids = await self._store.key_fleets(key_id)
        if not fleet_ids:
            raise AdminError("key_not_found", f"no such key (or it is revoked): {key_id}")
        return await self.create_key(fleet_ids)

    async def revoke(self, kind: str, credential_id: str) -> datetime:
        """Revoke a key or token; revoking twice is fine and answers the first revocation's time.
        Every process stops accepting it within its credential cache's time to live."""
        revoked_at = await self._store.revoke(kind, credential_id)
        if revoked_at is None:
            raise AdminError(f"{kind}_not_found", f"no such {kind}: {credential_id}")
        return revoked_at

    async def list_credentials(self, kind: str, fleet_id: str) -> list[CredentialInfo]:
        await self._require_fleets([fleet_id])
        return await self._store.list_credentials(kind, fleet_id)

    async def create_webhook(self, fleet_id: str, url: str, events: str | None) -> IssuedWebhook:
        """A receiver of the fleet's events of the types chosen (none: all); its signing secret, once."""
        await self._require_fleets([fleet_id])
        try:
            url, types = check_url(url), event_types(events)
        except InvalidWebhook as error:
            raise AdminError(error.code, str(error)) from error
        if self._deny_private:
            await _refuse_private(url)
        issued = IssuedWebhook(new_id("whk"), new_secret())
        await self._store.create_webhook(issued.webhook_id, fleet_id, url, types, issued.secret)
        return issued

    async def list_webhooks(self, fleet_id: str) -> list[WebhookInfo]:
        await self._require_fleets([fleet_id])
        return await self._store.list_webhooks(fleet_id)

    async def delete_webhook(self, webhook_id: str) -> None:
        """Deliveries it still had to make are recorded dead."""
        if not await self._store.delete_webhook(webhook_id):
            raise AdminError("webhook_not_found", f"no such webhook: {webhook_id}")

    async def deliveries(self, fleet_id: str, status: str | None, limit: int) -> list[DeliveryInfo]:
        await self._require_fleets([fleet_id])
        if status is not None and status not in DELIVERY_STATUSES:
            raise AdminError("invalid_status", f"--status is one of {', '.join(DELIVERY_STATUSES)}")
        if not 1 <= limit <= 10_000:
            raise AdminError("invalid_limit", "--limit must be 1-10000")
        return await self._store.list_deliveries(fleet_id, status, limit)

    async def _require_fleets(self, fleet_ids: Sequence[str]) -> None:
        if not fleet_ids:
            raise AdminError("fleet_required", "name at least one fleet with --fleet")
        missing = await self._store.missing_fleets(sorted(set(fleet_ids)))
        if missing:
            raise AdminError("fleet_not_found", f"no such fleet: {', '.join(missing)}")


async def _refuse_private(url: str) -> None:
    host = urlsplit(url).hostname
    try:
        refused = await non_public_address(url)
    except OSError as error:
        raise AdminError("invalid_url", f"{host} does not resolve: {error}") from error
    if refused is not None:
        raise AdminError("private_url", f"{host} is {refused}, not a public address (HARBOR_WEBHOOK_DENY_PRIVATE)")
