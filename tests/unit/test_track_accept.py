"""Which track representation an Accept header asks for."""

import pytest

from harbor_fleet.web.track_render import wants_geojson


@pytest.mark.parametrize(
    ("accept", "geojson"),
    [
        ("application/geo+json", True),
        ("application/geo+json, application/json;q=0.5", True),
        ("application/json, application/geo+json", True),  # equal weights: the more specific one
        ("application/geo+json;q=0", False),
        ("application/geo+json;q=0.3, application/json", False),
        ("application/json;q=0.9, application/geo+json;q=1.0", True),
        ("*/*", False),
        ("", False),
        ("application/geo+json;q=bogus", False),
        ("APPLICATION/GEO+JSON; Q=0.8", True),
    ],
)
def test_geojson_only_when_it_is_preferred(accept: str, geojson: bool) -> None:
    assert wants_geojson(accept) is geojson
