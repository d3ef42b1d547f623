"""Plausible routes, no I/O: each vehicle drives a closed loop of waypoints around a centre at its own
speed, so positions, headings and speeds change the way a delivery round's would."""

import math
import random
from dataclasses import dataclass, field

EARTH_RADIUS_M = 6_371_000.0


@dataclass(frozen=True, slots=True)
class Position:
    lat: float
    lng: float
    speed_kmh: float
    heading_deg: float


@dataclass(slots=True)
class Vehicle:
    vehicle_id: str
    waypoints: list[tuple[float, float]]
    speed_kmh: float
    leg: int = 0
    progress_m: float = 0.0
    _legs: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._legs = [_distance_m(a, b) for a, b in _pairs(self.waypoints)]

    def advance(self, seconds: float) -> Position:
        """Drive on for `seconds`; where the vehicle is then."""
        self.progress_m += self.speed_kmh / 3.6 * seconds
        while self.progress_m >= self._legs[self.leg]:
            self.progress_m -= self._legs[self.leg]
            self.leg = (self.leg + 1) % len(self._legs)
        start, end = _pairs(self.waypoints)[self.leg]
        share = self.progress_m / self._legs[self.leg] if self._legs[self.leg] else 0.0
        lat = start[0] + (end[0] - start[0]) * share
        lng = start[1] + (end[1] - start[1]) * share
        return Position(round(lat, 6), round(lng, 6), round(self.speed_kmh, 1), round(_bearing(start, end), 1))


def fleet_of(count: int, centre: tuple[float, float], radius_m: float = 3000.0, seed: int = 7) -> list[Vehicle]:
    """`count` vehicles, each on its own loop of 5–8 waypoints within `radius_m` of `centre`."""
    chance = random.Random(seed)
    vehicles = []
    for number in range(count):
        stops = chance.randint(5, 8)
        angles = sorted(chance.uniform(0, 2 * math.pi) for _ in range(stops))
        waypoints = [_offset(centre, chance.uniform(0.3, 1.0) * radius_m, angle) for angle in angles]
        vehicles.append(Vehicle(f"vehicle-{number + 1:03d}", waypoints, chance.uniform(18.0, 55.0)))
    return vehicles


def _pairs(points: list[tuple[float, float]]) -> list[tuple[tuple[float, float], tuple[float, float]]]:
    return list(zip(points, points[1:] + points[:1], strict=True))


def _offset(centre: tuple[float, float], distance_m: float, angle: float) -> tuple[float, float]:
    lat = centre[0] + math.degrees(distance_m * math.cos(angle) / EARTH_RADIUS_M)
    lng = centre[1] + math.degrees(distance_m * math.sin(angle) / (EARTH_RADIUS_M * math.cos(math.radians(centre[0]))))
    return lat, lng


def _distance_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    lat1, lng1, lat2, lng2 = map(math.radians, (*a, *b))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lng2 - lng1) / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(h))


def _bearing(a: tuple[float, float], b: tuple[float, float]) -> float:
    lat1, lng1, lat2, lng2 = map(math.radians, (*a, *b))
    y = math.sin(lng2 - lng1) * math.cos(lat2)
    x = math.cos(lat1) * math.sin(lat2) - math.sin(lat1) * math.cos(lat2) * math.cos(lng2 - lng1)
    return math.degrees(math.atan2(y, x)) % 360.0
