"""/metrics (DESIGN 2.8): scraped before and after traffic, the series dashboards rely on moved by what the
traffic did. The registry is the process's, shared by every app a test run starts: tests compare deltas."""

from collections.abc import Iterator

import pytest
from prometheus_client.parser import text_string_to_metric_families

from harbor_fleet.service.admin import IssuedKey, IssuedToken
from helpers import Harbor, bearer, eventually, fix

Labels = tuple[tuple[str, str], ...]
POSITIONS = "/api/v1/fleets/{fleet_id}/positions"


def scrape(harbor: Harbor) -> dict[tuple[str, Labels], float]:
    """Every sample of /metrics by name and labels."""
    response = harbor.client.get("/metrics")
    assert response.status_code == 200
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: dict[tuple[str, Labels], float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.fixture
def creds(harbor: Harbor) -> Iterator[tuple[IssuedKey, IssuedToken]]:
    harbor.create_fleet("f1")
    yield harbor.create_key("f1"), harbor.create_token("f1")


def test_ingest_counts_fixes_requests_batches_and_durations(harbor: Harbor, creds) -> None:  # type: ignore[no-untyped-def]
    key, token = creds
    before = scrape(harbor)
    first, second = fix("v1", seconds_ago=3), fix("v2", seconds_ago=2)
    assert harbor.ingest("f1", key, {"fixes": [first, second]}).status_code == 202
    assert harbor.ingest("f1", key, {"fixes": [first]}).status_code == 202  # a duplicate
    invalid = {"fixes": [fix("v3"), fix("v4", lat=123.0)]}
    assert harbor.ingest("f1", key, invalid).status_code == 422
    assert harbor.status("f1", token).status_code == 200
    assert harbor.client.get("/no/such/path").status_code == 404
    after = scrape(harbor)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("harbor_fixes_total", outcome="accepted") == 2
    assert moved("harbor_fixes_total", outcome="duplicate") == 1
    assert moved("harbor_fixes_total", outcome="rejected") == 1
    assert moved("harbor_ingest_requests_total", outcome="accepted") == 2
    assert moved("harbor_ingest_requests_total", outcome="invalid_fixes") == 1
    assert moved("harbor_writer_batch_size_count") == 2
    assert moved("harbor_writer_batch_size_sum") == 3  # every fix sent is written; the database drops repeats
    assert moved("harbor_writer_commit_seconds_count") == 2
    http = "harbor_http_request_duration_seconds_count"
    assert moved(http, route=POSITIONS, method="POST", status="202") == 2
    assert moved(http, route=POSITIONS, method="POST", status="422") == 1
    assert moved(http, route="/api/v1/fleets/{fleet_id}/status", method="GET", status="200") == 1
    assert moved(http, route="unmatched", method="GET", status="404") == 1
    assert not any("/no/such/path" in str(labels) for _, labels in after)  # never a raw path as a label


def test_live_stream_and_process_gauges_move(harbor: Harbor, creds) -> None:  # type: ignore[no-untyped-def]
    key, token = creds
    before = scrape(harbor)
    with harbor.client.websocket_connect("/api/v1/fleets/f1/live", headers=bearer(token)) as ws:
        assert ws.receive_json()["type"] == "snapshot"
        assert harbor.ingest("f1", key, {"fixes": [fix("v1")]}).status_code == 202
        assert ws.receive_json()["type"] == "position"
        # The gauges are sampled once a second: wait for a sample taken while the stream is open.
        eventually(lambda: value(scrape(harbor), "harbor_ws_connections") >= 1, timeout=10)
    after = scrape(harbor)
    assert (
        value(after, "harbor_ws_frames_total", outcome="sent") - value(before, "harbor_ws_frames_total", outcome="sent")
        >= 2
    )  # the snapshot and the position
    assert value(after, "harbor_bus_lag_seconds_count") > value(before, "harbor_bus_lag_seconds_count")
    assert value(after, "harbor_event_loop_lag_seconds_count") > value(before, "harbor_event_loop_lag_seconds_count")
    assert value(after, "harbor_process_resident_memory_bytes") > 10_000_000
    assert value(after, "harbor_trackers") >= 1
    assert ("harbor_tracker_mailbox_depth", ()) in after and ("harbor_tracker_restarts_total", ()) in after
