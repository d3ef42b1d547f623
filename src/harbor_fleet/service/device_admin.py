"""Device credentials (DESIGN 2.9): a phone app reports as one vehicle of one fleet."""

import secrets
from dataclasses import dataclass
from datetime import datetime

from harbor_fleet.adapters.postgres.store import DeviceInfo, PostgresStore
from harbor_fleet.domain.ids import is_identifier
from harbor_fleet.service.admin import AdminError
from harbor_fleet.service.credentials import new_id, new_secret, token_digest


@dataclass(frozen=True, slots=True)
class IssuedDevice:
    device_id: str
    fleet_id: str
    vehicle_id: str
    token: str  # 256 random bits, shown once; stored as SHA-256
    owntracks_key: str | None = None  # for OwnTracks' payload encryption, when asked for


class DeviceAdmin:
    def __init__(self, store: PostgresStore) -> None:
        self._store = store

    async def create(self, fleet_id: str, vehicle_id: str, encrypt: bool = False) -> IssuedDevice:
        """A new credential; with `encrypt`, also a key for OwnTracks' payload encryption (its "Encryption
        key" setting): 32 characters, which the app pads or cuts to libsodium's 32-byte key."""
        if not is_identifier(vehicle_id):
            raise AdminError(
                "invalid_vehicle_id",
                "a vehicle id is 1-64 letters, digits, '.', '_', ':' or '-' (a letter or digit first)",
            )
        if await self._store.missing_fleets([fleet_id]):
            raise AdminError("fleet_not_found", f"no such fleet: {fleet_id}")
        key = secrets.token_urlsafe(24) if encrypt else None  # 32 characters, 192 random bits
        issued = IssuedDevice(new_id("dev"), fleet_id, vehicle_id, new_secret(), key)
        await self._store.create_device(issued.device_id, fleet_id, vehicle_id, token_digest(issued.token), key)
        return issued

    async def list(self, fleet_id: str) -> list[DeviceInfo]:
        if await self._store.missing_fleets([fleet_id]):
            raise AdminError("fleet_not_found", f"no such fleet: {fleet_id}")
        return await self._store.list_devices(fleet_id)

    async def revoke(self, device_id: str) -> datetime:
        """Revoking twice is fine and answers the first revocation's time. Device credentials are read from
        PostgreSQL on every report (never cached), so every process refuses a revoked one at once."""
        revoked_at = await self._store.revoke_device(device_id)
        if revoked_at is None:
            raise AdminError("device_not_found", f"no such device: {device_id}")
        return revoked_at
