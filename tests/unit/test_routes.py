"""Simulated routes: vehicles move along loops near their centre at plausible speeds."""

import math

from harbor_fleet.simulator.routes import fleet_of


def test_vehicles_move_and_stay_near_the_centre() -> None:
    centre = (53.54, 9.97)
    fleet = fleet_of(5, centre, radius_m=3000)
    assert [v.vehicle_id for v in fleet] == [f"vehicle-00{n}" for n in range(1, 6)]
    for vehicle in fleet:
        positions = [vehicle.advance(5.0) for _ in range(500)]
        assert len({(p.lat, p.lng) for p in positions}) > 100  # it moves
        for p in positions:
            dlat = (p.lat - centre[0]) * 111_000
            dlng = (p.lng - centre[1]) * 111_000 * math.cos(math.radians(centre[0]))
            assert math.hypot(dlat, dlng) <= 3100
            assert 0 <= p.heading_deg < 360 and 18 <= p.speed_kmh <= 55


def test_the_same_seed_gives_the_same_routes() -> None:
    first, second = fleet_of(3, (0.0, 0.0)), fleet_of(3, (0.0, 0.0))
    assert [v.waypoints for v in first] == [v.waypoints for v in second]
