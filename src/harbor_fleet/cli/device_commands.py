"""`harbor-fleet device create|list|revoke` (DESIGN 2.9): credentials for phone apps, and what to type
into each app's settings."""

import argparse
import sys
from urllib.parse import urlsplit

from harbor_fleet.adapters.postgres.store import DeviceInfo
from harbor_fleet.cli.results import Result
from harbor_fleet.domain.times import format_datetime
from harbor_fleet.service.admin import Admin
from harbor_fleet.service.device_admin import DeviceAdmin

OSMAND_PATH = "/api/v1/osmand"
OWNTRACKS_PATH = "/api/v1/owntracks"
LOOPBACK = {"127.0.0.1", "localhost", "::1", "0.0.0.0"}


async def create(admin: Admin, args: argparse.Namespace) -> Result:
    device = await DeviceAdmin(admin.store).create(args.fleet, args.vehicle, args.owntracks_encryption)
    base = args.public_url.rstrip("/")
    if urlsplit(base).hostname in LOOPBACK:
        sys.stderr.write(
            f"harbor-fleet: note: phones cannot reach {base} (this machine's loopback address); "
            "set HARBOR_PUBLIC_URL or --public-url to the address they use\n"
        )
    osmand = {"url": base + OSMAND_PATH, "id": device.token}
    owntracks = {
        "url": base + OWNTRACKS_PATH,
        "username": device.device_id,
        "password": device.token,
        "device": device.vehicle_id,
    }
    if device.owntracks_key is not None:
        owntracks["encryption_key"] = device.owntracks_key
    text = (
        f"device_id: {device.device_id} (fleet {device.fleet_id}, vehicle {device.vehicle_id})\n"
        f"Traccar Client: server URL {osmand['url']}, device identifier {osmand['id']}\n"
        f"OwnTracks (HTTP mode): URL {owntracks['url']}, username {owntracks['username']}, "
        f"password {owntracks['password']}, device ID {owntracks['device']}"
        + (f", encryption key {device.owntracks_key}" if device.owntracks_key else "")
        + "\n"
        "(the credential is shown only this once)"
    )
    fields = {"device_id": device.device_id, "fleet_id": device.fleet_id, "vehicle_id": device.vehicle_id}
    return Result({**fields, "token": device.token, "osmand": osmand, "owntracks": owntracks}, text)


async def listing(admin: Admin, args: argparse.Namespace) -> Result:
    devices = await DeviceAdmin(admin.store).list(args.fleet)
    rows = [_row(device) for device in devices]
    lines = [
        f"{row['device_id']}  vehicle {row['vehicle_id']}  last seen {row['last_seen_at'] or 'never'}"
        + (f"  battery {row['battery_percent']:.0f} %" if row["battery_percent"] is not None else "")
        + (f"  REVOKED {row['revoked_at']}" if row["revoked_at"] else "")
        + (f"  last rejection: {row['last_rejection']}" if row["last_rejection"] else "")
        for row in rows
    ]
    return Result({"devices": rows}, "\n".join(lines) or f"no devices for fleet {args.fleet}")


async def revoke(admin: Admin, args: argparse.Namespace) -> Result:
    revoked_at = format_datetime(await DeviceAdmin(admin.store).revoke(args.device_id))
    return Result({"device_id": args.device_id, "revoked_at": revoked_at}, f"revoked device {args.device_id}")


def _row(device: DeviceInfo) -> dict[str, object]:
    def when(moment: object) -> str | None:
        return None if moment is None else format_datetime(moment)  # type: ignore[arg-type]

    return {
        "device_id": device.device_id,
        "fleet_id": device.fleet_id,
        "vehicle_id": device.vehicle_id,
        "created_at": when(device.created_at),
        "revoked_at": when(device.revoked_at),
        "last_seen_at": when(device.last_seen_at),
        "battery_percent": device.battery_percent,
        "last_rejection": device.last_rejection,
        "last_rejection_at": when(device.last_rejection_at),
    }
