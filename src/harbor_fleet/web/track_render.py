"""Track pages as JSON or as a GeoJSON Feature with a LineString (DESIGN 2.8)."""

from harbor_fleet.domain.times import format_micros
from harbor_fleet.service.fleet_service import TrackPage
from harbor_fleet.web.call import Reply, json_reply


def wants_geojson(accept: str) -> bool:
    """GeoJSON when the Accept header names `application/geo+json` with a weight above 0 and at least that
    of JSON (`application/json`, `application/*` or `*/*`); plain JSON otherwise."""
    geojson, json = 0.0, 0.0
    for media_range in accept.split(","):
        media_type, *parameters = (part.strip() for part in media_range.split(";"))
        weight = _weight(parameters)
        if media_type.lower() == "application/geo+json":
            geojson = max(geojson, weight)
        elif media_type.lower() in ("application/json", "application/*", "*/*"):
            json = max(json, weight)
    return geojson > 0 and geojson >= json


def _weight(parameters: list[str]) -> float:
    for parameter in parameters:
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "q":
            try:
                return min(max(float(value), 0.0), 1.0)
            except ValueError:
                return 0.0
    return 1.0


def render_track(fleet_id: str, vehicle_id: str, page: TrackPage, geojson: bool) -> Reply:
    next_from = None if page.next_from is None else format_micros(page.next_from)
    if geojson:
        return json_reply(_feature(fleet_id, vehicle_id, page, next_from), content_type="application/geo+json")
    fixes = [
        {
            "recorded_at": format_micros(fix.recorded_at),
            "lat": fix.lat,
            "lng": fix.lng,
            "speed_kmh": fix.speed_kmh,
            "heading_deg": fix.heading_deg,
            "accuracy_m": fix.accuracy_m,
        }
        for fix in page.fixes
    ]
    return json_reply({"fleet_id": fleet_id, "vehicle_id": vehicle_id, "fixes": fixes, "next_from": next_from})


def _feature(fleet_id: str, vehicle_id: str, page: TrackPage, next_from: str | None) -> dict[str, object]:
    coordinates = [[fix.lng, fix.lat] for fix in page.fixes]
    return {
        "type": "Feature",
        "geometry": {"type": "LineString", "coordinates": coordinates} if len(coordinates) >= 2 else None,
        "properties": {
            "fleet_id": fleet_id,
            "vehicle_id": vehicle_id,
            "times": [format_micros(fix.recorded_at) for fix in page.fixes],
            "next_from": next_from,
        },
    }
