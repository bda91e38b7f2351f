"""Tests for gateway/console/senders.py: which page each address reaches."""

from __future__ import annotations

import pytest
from aiohttp import web

from gateway.console import senders
from tests.console.conftest import resolve


@pytest.mark.parametrize(
    ("method", "path", "handler"),
    [
        ("GET", "/senders", senders.show),
        ("POST", "/senders", senders.save),
        ("GET", "/senders/billing", senders.show),
        ("POST", "/senders/billing", senders.save),
        ("POST", "/senders/billing/remove", senders.remove),
    ],
)
async def test_each_address_reaches_its_page_behind_the_settings_scope(
    app: web.Application, method: str, path: str, handler: object
) -> None:
    """Each page answers at its address, guarded by ``settings:manage``, the
    scope of the admin API's routes for the same things."""
    found = await resolve(app, method, path)
    assert found is handler
    assert getattr(found, "scope", None) == "settings:manage"
