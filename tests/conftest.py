"""Test infrastructure: a real PostgreSQL (the machine's, or an embedded one), one migrated template
database, and a fresh copy of it per test.

HARBOR_TEST_DATABASE_URL names the server to use (default: the local one at 127.0.0.1:5432). When
it is unreachable the suite starts an embedded PostgreSQL instead and says so in the summary;
with HARBOR_REQUIRE_SERVICES=1 (CI) an unreachable server fails the run instead.
"""

import asyncio
import os
import uuid
from collections.abc import Callable, Iterator
from typing import NoReturn

import psycopg
import pytest
from psycopg import conninfo

from harbor_fleet.adapters.postgres import migrations

DEFAULT_TEST_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/test"
REQUIRE_SERVICES = os.environ.get("HARBOR_REQUIRE_SERVICES") == "1"
_notes: list[str] = []


def with_database(url: str, dbname: str) -> str:
    return conninfo.make_conninfo(url, dbname=dbname)


@pytest.fixture(scope="session")
def pg_server_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A connection URL to a PostgreSQL server where the tests may create databases."""
    url = os.environ.get("HARBOR_TEST_DATABASE_URL", DEFAULT_TEST_DATABASE_URL)
    try:
        psycopg.connect(url, connect_timeout=3).close()
        return url
    except psycopg.OperationalError as error:
        if REQUIRE_SERVICES:
            pytest.fail(f"HARBOR_REQUIRE_SERVICES=1 but PostgreSQL at {url} is unreachable: {error}")
        from harbor_fleet.adapters.postgres import embedded

        reason = " ".join(str(error).split())
        _notes.append(f"PostgreSQL at {url} unreachable ({reason}); used an embedded PostgreSQL instead")
        return embedded.start(tmp_path_factory.mktemp("embedded-pg"), database="harbor_tests")


@pytest.fixture(scope="session")
def template_database(pg_server_url: str) -> Iterator[str]:
    """The name of a database migrated to the current schema, copied by each test."""
    name = f"harbor_tmpl_{uuid.uuid4().hex[:12]}"
    _admin(pg_server_url, f'CREATE DATABASE "{name}"')

    async def migrate() -> None:
        conn = await psycopg.AsyncConnection.connect(with_database(pg_server_url, name), autocommit=True)
        async with conn:
            await migrations.migrate(conn)

    asyncio.run(migrate())
    yield name
    _admin(pg_server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def database_url(pg_server_url: str, template_database: str) -> Iterator[str]:
    """A fresh, migrated database for this test."""
    name = f"harbor_t_{uuid.uuid4().hex[:12]}"
    _admin(pg_server_url, f'CREATE DATABASE "{name}" TEMPLATE "{template_database}"')
    yield with_database(pg_server_url, name)
    _admin(pg_server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def empty_database_url(pg_server_url: str) -> Iterator[str]:
    """A fresh database with no schema at all."""
    name = f"harbor_e_{uuid.uuid4().hex[:12]}"
    _admin(pg_server_url, f'CREATE DATABASE "{name}"')
    yield with_database(pg_server_url, name)
    _admin(pg_server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


DEFAULT_TEST_REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture(scope="session")
def redis_url() -> str:
    """A Redis for the Redis bus (HARBOR_TEST_REDIS_URL); skipped when unreachable, failed under
    HARBOR_REQUIRE_SERVICES=1. Channels are namespaced by database, so tests never hear each other."""
    import redis

    url = os.environ.get("HARBOR_TEST_REDIS_URL", DEFAULT_TEST_REDIS_URL)
    try:
        redis.Redis.from_url(url, socket_connect_timeout=3).ping()
    except redis.RedisError as error:
        if REQUIRE_SERVICES:
            pytest.fail(f"HARBOR_REQUIRE_SERVICES=1 but Redis at {url} is unreachable: {error}")
        _notes.append(f"Redis at {url} unreachable ({error}); skipped the Redis bus tests")
        pytest.skip(f"Redis at {url} is unreachable")
    return url


@pytest.fixture(scope="session")
def missing_service() -> Callable[[str, str], NoReturn]:
    """`missing_service(what, tests)`: skip, and say at the end of the run that `tests` did not run because
    of `what`; under HARBOR_REQUIRE_SERVICES=1, fail instead."""

    def missing(what: str, tests: str) -> NoReturn:
        if REQUIRE_SERVICES:
            pytest.fail(f"HARBOR_REQUIRE_SERVICES=1 but {what}")
        note = f"{what}; skipped {tests}"
        if note not in _notes:
            _notes.append(note)
        pytest.skip(what)

    return missing


def _admin(url: str, statement: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(statement.encode())


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for note in _notes:
        terminalreporter.write_line(f"NOTE: {note}", yellow=True)
