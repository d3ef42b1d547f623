"""Where the database is (embedded or external) and how connections to it are made."""

from psycopg import AsyncConnection
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import TupleRow
from psycopg_pool import AsyncConnectionPool

from harbor_fleet.adapters.postgres import embedded
from harbor_fleet.settings import Settings


def resolve_url(settings: Settings) -> str:
    """The configured external URL, or the embedded server's (started if need be)."""
    if settings.database_url:
        return settings.database_url
    return embedded.start(settings.data_dir)


def database_name(url: str) -> str:
    return str(conninfo_to_dict(url).get("dbname", "harbor"))


CONNECT_TIMEOUT = 5  # seconds: an unreachable host fails a request instead of holding it


async def connect(url: str) -> AsyncConnection[TupleRow]:
    return await AsyncConnection.connect(url, autocommit=True, connect_timeout=CONNECT_TIMEOUT)


def make_pool(
    url: str, size: int, name: str = "harbor", autocommit: bool = True
) -> AsyncConnectionPool[AsyncConnection[TupleRow]]:
    """`autocommit=False` leaves the mode to the pool's user (procrastinate sets it on the connections it
    makes itself from the pool's arguments, and refuses to be told twice)."""
    kwargs: dict[str, object] = {"connect_timeout": CONNECT_TIMEOUT}
    if autocommit:
        kwargs["autocommit"] = True
    return AsyncConnectionPool(
        url,
        min_size=1,
        max_size=size,
        kwargs=kwargs,
        open=False,
        name=name,
        timeout=5.0,
        # The pool retries a lost connection with doubling pauses; giving up after 2 s and starting
        # afresh on the next request keeps those pauses short, so the service is back within a second
        # or two of the database, however long the outage was.
        reconnect_timeout=2.0,
    )
