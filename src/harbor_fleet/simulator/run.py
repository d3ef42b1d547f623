"""Driving the simulated vehicles against a server, with a progress line: signed ingest, one request per
tick carrying every fix due; vehicles given a phone (phones.py) report as that app does instead, one
request per fix. Uses the standard library's HTTP client on kept-alive connections."""

import http.client
import json
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

from harbor_fleet.domain.signing import sign
from harbor_fleet.simulator.phones import Phone
from harbor_fleet.simulator.routes import Vehicle, fleet_of


@dataclass(frozen=True, slots=True)
class Target:
    url: str
    fleet_id: str
    key_id: str
    secret: str


@dataclass(slots=True)
class Tally:
    sent: int = 0
    accepted: int = 0
    duplicates: int = 0
    failed_requests: int = 0
    last_error: str = ""


class Client:
    def __init__(self, target: Target) -> None:
        self._target = target
        parts = urlsplit(target.url)
        connection = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        self._conn = connection(parts.hostname or "127.0.0.1", parts.port, timeout=10)
        self._path = f"{parts.path.rstrip('/')}/api/v1/fleets/{target.fleet_id}/positions"

    def send(self, fixes: list[dict[str, object]]) -> tuple[int, dict[str, object]]:
        body = json.dumps({"fixes": fixes}).encode()
        ts = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "X-Harbor-Key": self._target.key_id,
            "X-Harbor-Timestamp": ts,
            "X-Harbor-Signature": "v1=" + sign(self._target.secret.encode(), ts, body),
        }
        try:
            self._conn.request("POST", self._path, body, headers)
            response = self._conn.getresponse()
            payload = response.read()
        except (OSError, http.client.HTTPException) as error:
            self._conn.close()  # reconnects on the next request
            return 0, {"error": {"message": str(error)}}
        return response.status, json.loads(payload or b"{}")

    @property
    def signs(self) -> bool:
        """Whether it has a partner key (a simulation of phones alone needs none)."""
        return bool(self._target.key_id)

    def close(self) -> None:
        self._conn.close()


def simulate(
    target: Target,
    vehicles: int,
    rate: float,
    duration: float | None,
    centre: tuple[float, float],
    quiet: bool = False,
    phones: Mapping[int, Phone] | None = None,
) -> Tally:
    """Send `rate` fixes a second in all, spread over `vehicles`, for `duration` seconds (None: until
    interrupted). The vehicle at index i reports through `phones[i]` when given. Returns the tally."""
    fleet = fleet_of(vehicles, centre)
    client = Client(target)
    phones = phones or {}
    tally = Tally()
    interval = max(len(fleet) / rate, 0.05) if rate > 0 else 1.0
    started = last_report = time.monotonic()
    try:
        while duration is None or time.monotonic() - started < duration:
            tick = time.monotonic()
            _send_tick(client, fleet, phones, interval, tally)
            if not quiet and time.monotonic() - last_report >= 1.0:
                _report(tally, time.monotonic() - started)
                last_report = time.monotonic()
            time.sleep(max(0.0, interval - (time.monotonic() - tick)))  # pacing the simulation
    except KeyboardInterrupt:
        pass
    finally:
        client.close()
        for phone in phones.values():
            phone.close()
        if not quiet:
            _report(tally, time.monotonic() - started, final=True)
    return tally


def _send_tick(client: Client, fleet: list[Vehicle], phones: Mapping[int, Phone], seconds: float, tally: Tally) -> None:
    moment = datetime.now(UTC)
    now = moment.isoformat(timespec="microseconds").replace("+00:00", "Z")
    fixes: list[dict[str, object]] = []
    for index, vehicle in enumerate(fleet):
        position = vehicle.advance(seconds)
        phone = phones.get(index)
        if phone is not None:
            _count(tally, *phone.report(position, now, int(moment.timestamp())))
            continue
        fixes.append(
            {
                "vehicle_id": vehicle.vehicle_id,
                "lat": position.lat,
                "lng": position.lng,
                "recorded_at": now,
                "speed_kmh": position.speed_kmh,
                "heading_deg": position.heading_deg,
                "accuracy_m": 5.0,
            }
        )
    for start in range(0, len(fixes) if client.signs else 0, 1000):
        status, answer = client.send(fixes[start : start + 1000])
        tally.sent += len(fixes[start : start + 1000])
        if status == 202:
            tally.accepted += int(answer.get("accepted", 0))  # type: ignore[call-overload]
            tally.duplicates += int(answer.get("duplicates", 0))  # type: ignore[call-overload]
        else:
            tally.failed_requests += 1
            error = answer.get("error", {})
            tally.last_error = f"{status} {error.get('code', '') if isinstance(error, dict) else ''}".strip()


def _count(tally: Tally, status: int, error: str) -> None:
    """A phone's report: the apps are told nothing of duplicates, so every 200 counts as accepted."""
    tally.sent += 1
    if status == 200:
        tally.accepted += 1
    else:
        tally.failed_requests += 1
        tally.last_error = f"{status} {error}".strip()


def _report(tally: Tally, elapsed: float, final: bool = False) -> None:
    line = (
        f"simulate: {elapsed:6.1f} s  sent {tally.sent}  accepted {tally.accepted}  duplicates {tally.duplicates}"
        f"  failed requests {tally.failed_requests}" + (f" (last: {tally.last_error})" if tally.last_error else "")
    )
    sys.stderr.write(("\r" + line + ("\n" if final else "")) if sys.stderr.isatty() else line + "\n")
    sys.stderr.flush()
