"""The audit log: every change, whoever made it (a console user, a token, the
CLI), newest first, a page at a time (keyset pagination on the entry id)."""

from __future__ import annotations

import json

from aiohttp import web

from gateway.console import Console, Link, console_of, next_page, render, requires

NAV = (Link("Audit log", "/audit", "audit:read"),)
PAGE = 50


@requires("audit:read")
async def show(request: web.Request) -> web.StreamResponse:
    store = console_of(request).api.store
    before_text = request.query.get("before", "")
    before = int(before_text) if before_text.isascii() and before_text.isdigit() else None
    if before is not None and before > 2**62:
        before = None
    actor = request.query.get("actor") or None
    if actor is not None and len(actor) > 200:
        actor = None
    page = await store.audit_page(limit=PAGE, before=before, actor=actor)
    return render(
        request,
        "audit.html",
        entries=page.entries,
        next_url=next_page(request, "before", page.next_before),
        actor=actor or "",
        shown=lambda value: "" if value is None else json.dumps(value, sort_keys=True, indent=1),
    )


def routes(console: Console) -> list[web.RouteDef]:
    return [web.get("/audit", show)]
