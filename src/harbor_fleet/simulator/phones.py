"""Simulated phones: vehicles that report as the phone apps do (docs/devices.md), one request per fix
with the vehicle's own device credential. Traccar Client's OsmAnd request carries the fix in the URL query
of a POST with an empty body (speed in knots); OwnTracks posts a `_type: location` message with HTTP Basic
credentials (speed in km/h)."""

import base64
import http.client
import json
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

from harbor_fleet.simulator.routes import Position

PROTOCOLS = ("harbor", "osmand", "owntracks")
KNOTS_PER_KMH = 1 / 1.852


@dataclass(frozen=True, slots=True)
class Device:
    """What `device create --json` printed for one vehicle."""

    device_id: str
    vehicle_id: str
    token: str


class Phone:
    """One device reporting over its own kept-alive connection."""

    def __init__(self, url: str, protocol: str, device: Device) -> None:
        if protocol not in ("osmand", "owntracks"):
            raise ValueError(f"not a phone protocol: {protocol}")
        parts = urlsplit(url)
        connection = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        self._conn = connection(parts.hostname or "127.0.0.1", parts.port, timeout=10)
        self._base = parts.path.rstrip("/")
        self.protocol = protocol
        self.device = device

    def report(self, position: Position, recorded_at: str, unix_seconds: int) -> tuple[int, str]:
        """Send one fix; (status, error code or "")."""
        path, body, headers = self._request(position, recorded_at, unix_seconds)
        try:
            self._conn.request("POST", path, body, headers)
            response = self._conn.getresponse()
            payload = response.read()
        except (OSError, http.client.HTTPException) as error:
            self._conn.close()  # reconnects on the next request
            return 0, str(error)
        return response.status, "" if response.status == 200 else _code(payload)

    def close(self) -> None:
        self._conn.close()

    def _request(self, position: Position, recorded_at: str, unix_seconds: int) -> tuple[str, bytes, dict[str, str]]:
        if self.protocol == "osmand":
            query = {
                "id": self.device.token,
                "timestamp": recorded_at,
                "lat": position.lat,
                "lon": position.lng,
                "speed": round(position.speed_kmh * KNOTS_PER_KMH, 3),
                "bearing": position.heading_deg,
                "accuracy": 5.0,
            }
            return f"{self._base}/api/v1/osmand?{urlencode(query)}", b"", {}
        message = {
            "_type": "location",
            "lat": position.lat,
            "lon": position.lng,
            "tst": unix_seconds,
            "vel": round(position.speed_kmh),
            "cog": round(position.heading_deg),
            "acc": 5,
            "tid": self.device.vehicle_id[-2:],
        }
        credentials = base64.b64encode(f"{self.device.device_id}:{self.device.token}".encode()).decode()
        headers = {"Content-Type": "application/json", "Authorization": f"Basic {credentials}"}
        return f"{self._base}/api/v1/owntracks", json.dumps(message).encode(), headers


def _code(payload: bytes) -> str:
    try:
        error = json.loads(payload).get("error", {})
    except (ValueError, AttributeError):
        return ""
    return str(error.get("code", "")) if isinstance(error, dict) else ""
