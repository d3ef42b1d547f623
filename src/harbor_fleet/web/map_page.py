"""The operators' live map: one page per fleet; its script signs in, opens the live stream and moves
the markers as frames arrive. Assets are served from the package (no CDN)."""

import html
from collections.abc import Awaitable, Callable

import msgspec
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from harbor_fleet.domain.ids import is_identifier
from harbor_fleet.service.errors import FleetNotFound

_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · Harbor Fleet</title>
<link rel="stylesheet" href="/static/vendor/leaflet-1.9.4/leaflet.css">
<link rel="stylesheet" href="/static/map.css">
</head>
<body>
<header>
  <h1>Harbor Fleet · <span id="fleet-name">{title}</span></h1>
  <span id="connection" data-state="idle">not connected</span>
  <button id="sign-out" hidden>Sign out</button>
</header>
<form id="sign-in" hidden>
  <label for="token">Operator token</label>
  <input id="token" name="token" type="password" autocomplete="off" required>
  <button type="submit">Sign in</button>
  <p id="sign-in-error" role="alert"></p>
</form>
<main id="harbor-map" data-config="{config}" hidden>
  <aside><h2>Vehicles <span id="vehicle-count">0</span></h2><ul id="vehicles"></ul></aside>
  <div id="map"></div>
</main>
<script src="/static/vendor/leaflet-1.9.4/leaflet.js"></script>
<script src="/static/map.js"></script>
</body>
</html>
"""


def map_endpoint(tiles: str, attribution: str) -> Callable[[Request], Awaitable[Response]]:
    async def page(request: Request) -> Response:
        fleet_id = request.path_params["fleet_id"]
        if not is_identifier(fleet_id):
            raise FleetNotFound
        config = msgspec.json.encode({"fleetId": fleet_id, "tiles": tiles, "attribution": attribution}).decode()
        body = _PAGE.format(title=html.escape(fleet_id), config=html.escape(config, quote=True))
        headers = {"cache-control": "no-store", "x-content-type-options": "nosniff"}
        return HTMLResponse(body, headers=headers)

    return page
