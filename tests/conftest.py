from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests import stores


@pytest.fixture(scope="session", autouse=True)
def test_database() -> Iterator[str | None]:
    """A fresh PostgreSQL database for this session, when the tests run on PostgreSQL."""
    if stores.KIND != "postgresql":
        yield None
        return
    url = stores.create_database()
    os.environ[stores.DATABASE_VARIABLE] = url
    try:
        yield url
    finally:
        del os.environ[stores.DATABASE_VARIABLE]
        stores.drop_database(url)
