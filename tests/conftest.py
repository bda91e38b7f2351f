from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from gateway.store import Store, open_store
from gateway.store._sql import SQLStore
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


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    """A real, empty store of the kind this session tests, every migration applied."""
    opened = open_store(stores.url_for(tmp_path))
    await opened.open()
    yield opened
    await opened.close()


@pytest.fixture
def clock() -> stores.MovableClock:
    """The clock of ``clocked_store``: a test moves it forward instead of sleeping."""
    return stores.MovableClock()


@pytest.fixture
async def clocked_store(tmp_path: Path, clock: stores.MovableClock) -> AsyncIterator[SQLStore]:
    """A real, empty store of the kind this session tests, reading ``clock``."""
    opened = open_store(stores.url_for(tmp_path), clock=clock)
    assert isinstance(opened, SQLStore)
    await opened.open()
    try:
        yield opened
    finally:
        await opened.close()
