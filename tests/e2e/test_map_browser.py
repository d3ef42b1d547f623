"""The live map in a real headless Chromium (Debian's, driven by Playwright): sign in, see the
markers, ingest a fix, see the marker move and the list update without a reload.
A screenshot is kept in artifacts/map.png."""

import os
import shutil
import time
from pathlib import Path

import pytest

from conftest import Server, cli_json, harbor_env, ingest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
def browser():  # type: ignore[no-untyped-def]
    if not Path(CHROMIUM).exists():
        if os.environ.get("HARBOR_REQUIRE_SERVICES") == "1":
            pytest.fail("HARBOR_REQUIRE_SERVICES=1 but Chromium is not installed (apt-get install chromium)")
        pytest.skip("Chromium is not installed (apt-get install chromium): the browser test did not run")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


def post(url: str, key: dict, fixes: list[dict]) -> None:
    assert ingest(url, "depot", key, fixes).status_code == 202


def at(seconds_ago: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(time.time() - seconds_ago)) + "Z"


def test_the_map_follows_the_fleet_live(browser, database_url: str, tmp_path: Path, servers: list[Server]) -> None:  # type: ignore[no-untyped-def]
    # Tiles from a closed local port: no traffic leaves the machine, and the map must cope without tiles.
    env = harbor_env(database_url=database_url, map_tiles="http://127.0.0.1:9/{z}/{x}/{y}.png")
    cli_json(env, "fleet", "create", "depot")
    key = cli_json(env, "key", "create", "--fleet", "depot")
    token = cli_json(env, "token", "create", "--fleet", "depot")
    server = Server(env, tmp_path / "server.log").start()
    servers.append(server)
    post(
        server.url,
        key,
        [
            {"vehicle_id": "van-1", "lat": 52.52, "lng": 13.40, "recorded_at": at(30), "speed_kmh": 31.5},
            {"vehicle_id": "van-2", "lat": 52.50, "lng": 13.45, "recorded_at": at(20)},
        ],
    )

    page = browser.new_page(viewport={"width": 1200, "height": 800})
    page.goto(f"{server.url}/fleets/depot/map")
    page.fill("#token", token["token"])
    page.click("#sign-in button[type=submit]")
    page.wait_for_selector("#connection[data-state=live]", timeout=10_000)
    page.wait_for_selector("#vehicles li[data-vehicle-id=van-2]", timeout=10_000)
    assert page.locator("path.vehicle-marker").count() == 2
    assert page.locator(".vehicle-label", has_text="van-1").count() == 1
    van1 = page.locator("#vehicles li[data-vehicle-id=van-1]")
    assert "31.5 km/h" in van1.inner_text()
    marker_before = page.locator("path.vehicle-marker").first.get_attribute("d")

    post(server.url, key, [{"vehicle_id": "van-1", "lat": 52.53, "lng": 13.42, "recorded_at": at(1), "speed_kmh": 42}])
    page.wait_for_function(
        "() => document.querySelector('#vehicles li[data-vehicle-id=\"van-1\"]').dataset.lat === '52.53'",
        timeout=10_000,
    )
    assert "42.0 km/h" in van1.inner_text()
    assert page.locator("path.vehicle-marker").first.get_attribute("d") != marker_before  # the marker moved
    assert page.evaluate("performance.getEntriesByType('navigation').length") == 1  # no reload
    assert "token" not in page.evaluate("document.cookie")  # the session cookie is HttpOnly
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "map.png"))
