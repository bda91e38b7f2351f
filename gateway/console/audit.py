"""The audit log: every change, whoever made it (a console user, a token, the
CLI), newest first, a page at a time (keyset pagination on the entry id),
with its value before and after as the store keeps them: every secret (a
password, a token, a key) masked when it was written, so none can show here.
Filters: who made the change, and what changed (a setting and what lies
under it: ``smtp``, ``users``, ``templates/account.created``)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from gateway.console import Console, Link, console_of, next_page, render, requires

NAV = (Link("Audit log", "/audit", "audit:read"),)
PAGE = 50
# The longest filter taken; a longer one is no actor's or setting's name.
LONGEST = 200


@dataclass(frozen=True)
class Line:
    """One field of a value before or after a change; ``changed`` when the
    other side lacks it or holds something else."""

    name: str
    value: str
    changed: bool


def lines(value: Mapping[str, Any] | None, other: Mapping[str, Any] | None) -> list[Line] | None:
    """``value``'s fields by name, each marked when ``other`` differs; None for no value."""
    if value is None:
        return None
    return [
        Line(
            name,
            json.dumps(value[name], sort_keys=True),
            other is None or name not in other or other[name] != value[name],
        )
        for name in sorted(value)
    ]


def _filter(request: web.Request, name: str) -> str | None:
    value = request.query.get(name, "").strip()
    return value if value and len(value) <= LONGEST and value.isprintable() else None


@requires("audit:read")
async def show(request: web.Request) -> web.StreamResponse:
    store = console_of(request).api.store
    before_text = request.query.get("before", "")
    before = int(before_text) if before_text.isascii() and before_text.isdigit() else None
    if before is not None and before > 2**62:
        before = None
    actor = _filter(request, "actor")
    setting = _filter(request, "what")
    page = await store.audit_page(limit=PAGE, before=before, actor=actor, setting=setting)
    return render(
        request,
        "audit.html",
        entries=page.entries,
        next_url=next_page(request, "before", page.next_before),
        actor=actor or "",
        what=setting or "",
        lines=lines,
    )


def routes(console: Console) -> list[web.RouteDef]:
    return [web.get("/audit", show)]
