from collections.abc import Iterator

import pytest

from helpers import Harbor, running_harbor


@pytest.fixture
def harbor(database_url: str) -> Iterator[Harbor]:
    with running_harbor(database_url) as running:
        yield running
