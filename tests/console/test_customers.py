"""Tests for gateway/console/customers.py: which page each address reaches."""

from __future__ import annotations

import pytest
from aiohttp import web

from gateway.console import customers
from tests.console.conftest import resolve


@pytest.mark.parametrize(
    ("method", "path", "handler"),
    [
        ("GET", "/customers", customers.list_customers),
        # "import" is the import page, not a customer of that id.
        ("GET", "/customers/import", customers.import_form),
        ("POST", "/customers/import", customers.import_customers),
        ("GET", "/customers/cus_1", customers.show_customer),
        ("GET", "/customers/cus_1/delete", customers.confirm_delete),
        ("POST", "/customers/cus_1/delete", customers.delete_customer),
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
