"""Tests for gateway/problems.py: every error an aiohttp handler raises becomes
an RFC 9457 problem, over a real server on loopback; never a traceback."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from http import HTTPStatus
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from gateway import problems
from gateway.errors import InvalidInput, NotFoundError, StoreError
from tests.capture import free_port

LOOPBACK = "127.0.0.1"


async def invalid(request: web.Request) -> web.Response:
    raise InvalidInput("#/address", "is not an address")


async def missing(request: web.Request) -> web.Response:
    raise NotFoundError("no run 'run_x'")


async def store_down(request: web.Request) -> web.Response:
    raise StoreError("the store is gone")


async def crash(request: web.Request) -> web.Response:
    raise RuntimeError("secret internals at /srv/herald")


async def fine(request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


@pytest.fixture
async def base_url() -> AsyncIterator[str]:
    app = web.Application(middlewares=[problems.middleware])
    app.add_routes(
        [
            web.get("/invalid", invalid),
            web.get("/missing", missing),
            web.get("/store", store_down),
            web.get("/crash", crash),
            web.get("/fine", fine),
            web.post("/fine", fine),
        ]
    )
    runner = web.AppRunner(app, logger=problems.server_logger())
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, LOOPBACK, port).start()
    try:
        yield f"http://{LOOPBACK}:{port}"
    finally:
        await runner.cleanup()


async def fetch(url: str, method: str = "GET") -> tuple[int, dict[str, str], Any]:
    async with aiohttp.ClientSession() as session, session.request(method, url) as answer:
        text = await answer.text()
        return answer.status, dict(answer.headers), json.loads(text)


async def test_invalid_input_is_a_422_naming_the_field(base_url: str) -> None:
    """The problem has its type, title, status, detail and the field's pointer."""
    status, headers, body = await fetch(base_url + "/invalid")
    assert status == 422
    assert headers["Content-Type"].startswith("application/problem+json")
    assert body["status"] == 422
    assert body["title"] == HTTPStatus(422).phrase
    assert body["type"].startswith("urn:herald:problem:")
    assert body["errors"] == [{"pointer": "#/address", "detail": "is not an address"}]


async def test_not_found_and_store_trouble_get_their_rows(base_url: str) -> None:
    """A missing thing is 404; a store that cannot answer is 503 with Retry-After."""
    status, _, body = await fetch(base_url + "/missing")
    assert (status, body["detail"]) == (404, "no run 'run_x'")
    status, headers, _ = await fetch(base_url + "/store")
    assert status == 503
    assert int(headers["Retry-After"]) > 0


async def test_a_crash_is_a_500_that_tells_nothing_of_it(base_url: str) -> None:
    """The client learns that the fault is Herald's, not what it was."""
    status, _, body = await fetch(base_url + "/crash")
    assert status == 500
    assert "secret internals" not in json.dumps(body)
    assert "Traceback" not in json.dumps(body)


async def test_aiohttp_s_own_refusals_are_problems_too(base_url: str) -> None:
    """An unknown path is a 404 problem; a method not allowed is a 405 naming those allowed."""
    status, headers, body = await fetch(base_url + "/nowhere")
    assert (status, headers["Content-Type"].split(";")[0]) == (404, problems.MEDIA_TYPE)
    status, headers, body = await fetch(base_url + "/fine", method="DELETE")
    assert status == 405
    assert {method.strip() for method in headers["Allow"].split(",")} == {"GET", "HEAD", "POST"}
    assert body["status"] == 405


async def test_a_nul_in_the_url_is_refused_before_any_handler(base_url: str) -> None:
    """``%00`` in the path or the query is a 400 ``invalid-url``, even on a good route."""
    for path in ("/fine%00", "/fine?x=%00"):
        status, _, body = await fetch(base_url + path)
        assert status == 400, path
        assert body["type"].endswith(":invalid-url")
    assert (await fetch(base_url + "/fine"))[0] == 200
