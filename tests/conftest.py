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


@pytest.fixture(scope="session")
def store_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the SQLite store that ``store`` and ``clocked_store`` copy is made once."""
    return tmp_path_factory.mktemp("store-template")


@pytest.fixture
async def store(tmp_path: Path, store_template: Path) -> AsyncIterator[Store]:
    """A real, empty store of the kind this session tests, every migration applied."""
    opened = open_store(await stores.migrated_url_for(tmp_path, store_template))
    await opened.open()
    yield opened
    await opened.close()


@pytest.fixture
def clock() -> stores.MovableClock:
    """The clock of ``clocked_store``: a test moves it forward instead of sleeping."""
    return stores.MovableClock()


@pytest.fixture
async def clocked_store(
    tmp_path: Path, store_template: Path, clock: stores.MovableClock
) -> AsyncIterator[SQLStore]:
    """A real, empty store of the kind this session tests, reading ``clock``."""
    opened = open_store(await stores.migrated_url_for(tmp_path, store_template), clock=clock)
    assert isinstance(opened, SQLStore)
    await opened.open()
    try:
        yield opened
    finally:
        await opened.close()
