"""The OpenAPI document stays true to the routes the daemon registers."""

from __future__ import annotations

from pathlib import Path

from gateway.config import load
from gateway.daemon import Gateway
from gateway.store import open_store


def test_every_route_is_documented_with_the_scope_it_enforces(tmp_path: Path) -> None:
    """Each registered method and path is in /v1/openapi.json, naming exactly its scope."""
    config = load(env={"HERALD_STATE_DIR": str(tmp_path), "HERALD_ADMIN_TOKEN": "t"})
    gateway = Gateway.build(config, open_store(":memory:"))
    from gateway.admin import modules
    from gateway.admin.openapi import build

    document = build(modules())
    assert document["openapi"] == "3.1.0"
    registered = set()
    for route in gateway.app.router.routes():
        # The console's pages are for browsers, not part of the API.
        if route.method == "HEAD" or route.handler.__module__.startswith("gateway.console"):
            continue
        path = route.resource.canonical if route.resource else ""
        registered.add((route.method.lower(), path))
        operation = document["paths"].get(path, {}).get(route.method.lower())
        assert operation is not None, f"{route.method} {path} is not documented"
        scope = gateway.api.scopes.get(route.handler)
        assert operation["security"] == ([{"bearer": [scope]}] if scope else []), path
    documented = {(method, path) for path, ops in document["paths"].items() for method in ops}
    assert documented == registered
