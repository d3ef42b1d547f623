"""Retention: the hourly job deletes history past each fleet's retention, in bounded batches, while ingest
goes on; latest positions (status) and other fleets' history stay."""

import threading
from collections.abc import Iterator

import psycopg
import pytest

from harbor_fleet.service.admin import IssuedKey
from helpers import Harbor, defer_job, eventually, fix

DAY = 86_400


@pytest.fixture
def fleets(harbor: Harbor) -> Iterator[IssuedKey]:
    harbor.create_fleet("short", retention_days=2)
    harbor.create_fleet("long", retention_days=90)
    yield harbor.create_key("short", "long")


def sql(harbor: Harbor, query: str) -> list[tuple]:  # type: ignore[type-arg]
    with psycopg.connect(harbor.database_url, autocommit=True) as conn:
        cursor = conn.execute(query)
        return cursor.fetchall() if cursor.description else []


def count(harbor: Harbor, query: str) -> int:
    return int(sql(harbor, query)[0][0])


def run_retention(harbor: Harbor) -> None:
    defer_job(harbor.database_url, "harbor:apply_retention", timestamp=0)


def test_retention_deletes_only_expired_history_while_ingest_goes_on(harbor: Harbor, fleets: IssuedKey) -> None:
    key = fleets
    old = [fix(f"v{n}", seconds_ago=1.5 * DAY + n) for n in range(30)]  # within 2 days: accepted
    for fleet_id in ("short", "long"):
        assert harbor.ingest(fleet_id, key, {"fixes": old}).status_code == 202
    assert harbor.ingest("short", key, {"fixes": [fix("v0", seconds_ago=10)]}).status_code == 202
    sql(harbor, "UPDATE fleets SET retention_days = 1 WHERE fleet_id = 'short'")  # now those are expired
    sql(harbor, "UPDATE events SET committed_at = now() - interval '2 days' WHERE fleet_id = 'short' AND seq <= 30")
    sql(harbor, "INSERT INTO webhooks VALUES ('whk-1', 'short', 'http://127.0.0.1:9/', '{vehicle_status}', 's')")
    sql(
        harbor,
        "INSERT INTO webhook_deliveries (webhook_id, event_id, event_type, body, status, finished_at) VALUES "
        "('whk-1', 'short:1', 'position', '{}', 'delivered', now() - interval '2 days'), "
        "('whk-1', 'short:2', 'position', '{}', 'dead', now() - interval '1 hour')",
    )
    statuses: list[int] = []
    stop = threading.Event()

    def keep_ingesting() -> None:
        while not stop.is_set():
            statuses.append(harbor.ingest("short", key, {"fixes": [fix("live", seconds_ago=0)]}).status_code)

    ingesting = threading.Thread(target=keep_ingesting)
    ingesting.start()
    try:
        eventually(lambda: len(statuses) >= 5)
        run_retention(harbor)
        old_fixes = "SELECT count(*) FROM fixes WHERE fleet_id = 'short' AND vehicle_id <> 'live'"
        finished = "SELECT event_id FROM webhook_deliveries WHERE webhook_id = 'whk-1' AND status <> 'pending'"
        eventually(lambda: count(harbor, old_fixes) == 1, timeout=15)  # the worker may still be starting
        eventually(lambda: count(harbor, "SELECT count(*) FROM events WHERE fleet_id = 'short' AND seq <= 30") == 0)
        eventually(lambda: sql(harbor, finished) == [("short:2",)])
        before = len(statuses)
        eventually(lambda: len(statuses) >= before + 5)  # ingest still answers after the job
    finally:
        stop.set()
        ingesting.join()
    assert statuses and set(statuses) == {202}
    assert count(harbor, "SELECT count(*) FROM fixes WHERE fleet_id = 'short' AND vehicle_id = 'live'") == len(statuses)
    assert count(harbor, "SELECT count(*) FROM fixes WHERE fleet_id = 'long'") == len(old)
    # v0's recent fix (and its coming back online) and every live fix are still in the log
    assert count(harbor, "SELECT count(*) FROM events WHERE fleet_id = 'short'") == 2 + len(statuses)
    token = harbor.create_token("short")
    vehicles = harbor.status("short", token).json()["vehicles"]
    assert sorted(v["vehicle_id"] for v in vehicles) == sorted([*(f["vehicle_id"] for f in old), "live"])


def test_partitions_older_than_every_fleets_retention_are_dropped(harbor: Harbor, fleets: IssuedKey) -> None:
    sql(harbor, "SELECT harbor_make_fix_partitions(current_date - 200, current_date - 199)")
    assert (
        count(harbor, "SELECT count(*) FROM pg_class WHERE relname = to_char(current_date - 200, '\"fixes_\"YYYYMMDD')")
        == 1
    )
    run_retention(harbor)
    eventually(
        timeout=15,
        predicate=lambda: (
            count(
                harbor,
                "SELECT count(*) FROM pg_class WHERE relname ~ '^fixes_[0-9]{8}$' AND "
                "to_date(substr(relname, 7), 'YYYYMMDD') < current_date - 91",
            )
            == 0
        ),
    )
    ahead = "SELECT count(*) FROM pg_class WHERE relname = to_char(current_date + 7, '\"fixes_\"YYYYMMDD')"
    assert count(harbor, ahead) == 1
