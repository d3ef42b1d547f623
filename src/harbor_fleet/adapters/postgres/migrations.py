"""Versioned schema migrations: numbered .sql files applied in order, each in its own transaction,
under an advisory lock so that concurrent starters (workers, CLI commands) apply them once."""

import re
from dataclasses import dataclass
from importlib import resources

from psycopg import AsyncConnection
from psycopg.rows import TupleRow

from harbor_fleet.adapters.postgres.sql import QUERIES

_LOCK_KEY = 0x4861_7262  # "Harb": one advisory lock for all schema changes
_FILE = re.compile(r"(\d{4})_(\w+)\.sql")
# A line `-- @include package/file.sql` stands for that file of an installed package (a library's schema).
_INCLUDE = re.compile(r"^-- @include ([\w.]+)/([\w.]+)$", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str


def available() -> list[Migration]:
    folder = resources.files(__package__).joinpath("migrations")
    found = []
    for entry in folder.iterdir():
        match = _FILE.fullmatch(entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], _expand(entry.read_text(encoding="utf-8"))))
    return sorted(found, key=lambda migration: migration.version)


def _expand(sql: str) -> str:
    return _INCLUDE.sub(lambda m: resources.files(m[1]).joinpath(m[2]).read_text(encoding="utf-8"), sql)


REQUIRED_VERSION = available()[-1].version


async def current_version(conn: AsyncConnection[TupleRow]) -> int:
    """The schema version applied to the database, 0 when none is."""
    cursor = await conn.execute("SELECT to_regclass('harbor_schema_migrations') IS NOT NULL")
    row = await cursor.fetchone()
    if row is None or not row[0]:
        return 0
    cursor = await conn.execute("SELECT coalesce(max(version), 0) FROM harbor_schema_migrations")
    row = await cursor.fetchone()
    return int(row[0]) if row else 0


async def migrate(conn: AsyncConnection[TupleRow]) -> list[Migration]:
    """Apply every pending migration; returns those applied. `conn` must be in autocommit mode."""
    await conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))
    try:
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS harbor_schema_migrations ("
            " version integer PRIMARY KEY, name text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = await current_version(conn)
        applied = []
        for migration in available():
            if migration.version > done:
                async with conn.transaction():
                    await conn.execute(migration.sql.encode())
                    await conn.execute(
                        "INSERT INTO harbor_schema_migrations (version, name) VALUES (%s, %s)",
                        (migration.version, migration.name),
                    )
                applied.append(migration)
        await _make_partitions(conn)
        return applied
    finally:
        await conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))


async def _make_partitions(conn: AsyncConnection[TupleRow]) -> None:
    """Day partitions of fix history from yesterday to a week ahead (the hourly retention job keeps
    this going)."""
    await conn.execute(QUERIES["make_partitions"])
