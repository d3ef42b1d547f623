"""The group-commit writer: concurrent requests share transactions, each is answered only after its
commit, seq stays gap-free, and one request's failure never fails another's."""

import asyncio
import json
from concurrent.futures import ThreadPoolExecutor

from harbor_fleet.service.errors import ServiceError
from helpers import Harbor, fix, running_harbor


def ingest_concurrently(harbor: Harbor, bodies: list[tuple[str, dict]]) -> list[object]:
    service = harbor.application.service

    async def run() -> list[object]:
        async def one(fleet_id: str, body: dict) -> object:
            fleet = await service.credentials.fleets.get(fleet_id)
            assert fleet is not None
            try:
                return await service.ingest(fleet, json.dumps(body).encode())
            except ServiceError as error:
                return error

        return await asyncio.gather(*(one(fleet_id, body) for fleet_id, body in bodies))

    return harbor.call(run)


def test_concurrent_requests_are_batched_and_seq_has_no_gaps(harbor: Harbor) -> None:
    for fleet_id in ("a", "b", "c"):
        harbor.create_fleet(fleet_id)
    bodies = [
        (fleet_id, {"fixes": [fix(f"v{n % 7}", seconds_ago=n / 1000 + 1), fix(f"w{n}", seconds_ago=2)]})
        for n in range(300)
        for fleet_id in ("a", "b", "c")
    ]
    transactions_before = harbor.sql("SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()")
    results = ingest_concurrently(harbor, bodies)
    assert all(getattr(r, "accepted", None) == 2 for r in results), results[:3]
    for fleet_id in ("a", "b", "c"):
        seqs = [row[0] for row in harbor.sql("SELECT seq FROM events WHERE fleet_id = %s ORDER BY seq", fleet_id)]
        assert seqs == list(range(1, 601))
        assert harbor.sql("SELECT seq FROM fleets WHERE fleet_id = %s", fleet_id) == [(600,)]
    transactions_after = harbor.sql("SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()")
    assert transactions_after[0][0] - transactions_before[0][0] < 450  # far fewer commits than 900 requests


def test_repeats_across_concurrent_requests_are_stored_once(harbor: Harbor) -> None:
    harbor.create_fleet("a")
    shared = fix("v1", seconds_ago=5)
    results = ingest_concurrently(harbor, [("a", {"fixes": [shared]}) for _ in range(20)])
    assert sum(r.accepted for r in results) == 1  # type: ignore[attr-defined]
    assert sum(r.duplicates for r in results) == 19  # type: ignore[attr-defined]
    assert harbor.sql("SELECT count(*) FROM fixes") == [(1,)]


def test_a_failing_request_does_not_fail_the_others_in_its_batch(harbor: Harbor) -> None:
    harbor.create_fleet("a")
    # A rule the database enforces and validation does not: the batch fails, then each request is
    # retried in its own savepoint and only the offending one fails.
    harbor.sql("ALTER TABLE fixes ADD CONSTRAINT no_poison CHECK (vehicle_id <> 'poison')")
    bodies = [("a", {"fixes": [fix(f"v{n}", seconds_ago=1)]}) for n in range(30)]
    bodies.insert(15, ("a", {"fixes": [fix("poison", seconds_ago=1)]}))
    results = ingest_concurrently(harbor, bodies)
    failed = [r for r in results if isinstance(r, ServiceError)]
    assert len(failed) == 1 and failed[0].status == 500
    assert sum(getattr(r, "accepted", 0) for r in results) == 30
    seqs = [row[0] for row in harbor.sql("SELECT seq FROM events ORDER BY seq")]
    assert seqs == list(range(1, 31))


def test_two_writers_on_one_database_keep_seq_gap_free(database_url: str) -> None:
    """Two applications (as two processes would) ingest into the same fleets at once."""
    with running_harbor(database_url) as first, running_harbor(database_url) as second:
        for fleet_id in ("a", "b"):
            first.create_fleet(fleet_id)
        shared = [fix("v0", seconds_ago=9)]  # sent by both: stored once
        bodies = [
            (fleet_id, {"fixes": [*shared, fix(f"v{n % 5}", seconds_ago=1 + n / 1000)]})
            for n in range(200)
            for fleet_id in ("a", "b")
        ]
        with ThreadPoolExecutor(2) as pool:
            results = list(pool.map(lambda h: ingest_concurrently(h, bodies), (first, second)))
    accepted = sum(r.accepted for batch in results for r in batch)  # type: ignore[attr-defined]
    assert accepted == 2 * (200 + 1)  # each distinct fix once, whichever process stored it
    for fleet_id in ("a", "b"):
        seqs = [row[0] for row in first.sql("SELECT seq FROM events WHERE fleet_id = %s ORDER BY seq", fleet_id)]
        assert seqs == list(range(1, 202))
        assert first.sql("SELECT count(*) FROM fixes WHERE fleet_id = %s", fleet_id) == [(201,)]
