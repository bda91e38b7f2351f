"""What the tests of the console's pages share: the daemon's application,
built as ``herald serve`` builds it, on a store in memory."""

from __future__ import annotations

from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from gateway.config import load
from gateway.daemon import Gateway
from gateway.store import open_store


@pytest.fixture
def app(tmp_path: Path) -> web.Application:
    config = load(env={"HERALD_STATE_DIR": str(tmp_path), "HERALD_ADMIN_TOKEN": "t"})
    return Gateway.build(config, open_store(":memory:")).app


async def resolve(app: web.Application, method: str, path: str) -> object:
    """The handler a request for ``path`` reaches."""
    match = await app.router.resolve(make_mocked_request(method, path, app=app))
    return match.handler
