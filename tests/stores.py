"""Which store the tests run against: SQLite files, or PostgreSQL.

With ``HERALD_TEST_STORE=postgresql`` the session creates a fresh database
(``tests/conftest.py``) and every store a test opens, directly or through a
daemon, gets its own schema in it, so tests stay apart as with SQLite files.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg

KIND = os.environ.get("HERALD_TEST_STORE", "sqlite")
# The local superuser, as on the development and CI machines.
SERVER = os.environ.get("HERALD_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
DATABASE_VARIABLE = "HERALD_TEST_DATABASE"


def url_for(workdir: Path) -> str:
    """A new, empty store for one test or daemon."""
    database = os.environ.get(DATABASE_VARIABLE)
    if KIND == "postgresql":
        assert database, "the session's PostgreSQL database was not created"
        return f"{database}?schema=t_{secrets.token_hex(6)}"
    return str(workdir / "state" / "herald.db")


async def migrated_url_for(workdir: Path, template: Path) -> str:
    """A new store for one test with every migration already applied.

    On SQLite it is a copy of ``template/herald.db``, migrated once per test
    process, rather than every migration again (each its own fsynced commit)
    for every test; the store's own ``open`` still checks the version. What a
    first open does to an empty store stays tested wherever a test opens
    ``url_for`` (the daemons, tests/store/). PostgreSQL gets a fresh schema,
    as from ``url_for``.
    """
    url = url_for(workdir)
    if KIND == "postgresql":
        return url
    made = template / "herald.db"
    if not made.exists():
        from gateway.store import open_store

        store = open_store(str(made))
        await store.open()
        await store.close()
    Path(url).parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    shutil.copyfile(made, url)
    return url


def with_database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


async def _admin(statement: str) -> None:
    connection = await asyncpg.connect(SERVER)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


def create_database() -> str:
    name = f"herald_test_{os.getpid()}_{secrets.token_hex(4)}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    return with_database(SERVER, name)


def drop_database(url: str) -> None:
    name = urlsplit(url).path.lstrip("/")
    asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


class MovableClock:
    """The real time plus an offset a test moves forward, so that a test can
    let a lease run out without sleeping through it."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds
