"""The audit log: every change, whoever made it (a console user, a token, the
CLI), newest first, a page at a time (keyset pagination on the entry id),
with its value before and after as the store keeps them: every secret (a
password, a token, a key) masked when it was written, so none can show here.
Filters: who made the change, and what changed (a setting and what lies
under it: ``smtp``, ``users``, ``templates/account.created``)."""

from __future__ import annotations

import json

from aiohttp import web

from gateway.console import Console, Link, console_of, next_page, render, requires

NAV = (Link("Audit log", "/audit", "audit:read"),)
PAGE = 50
# The longest filter taken; a longer one is no actor's or setting's name.
LONGEST = 200


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
        shown=lambda value: "" if value is None else json.dumps(value, sort_keys=True, indent=1),
    )


def routes(console: Console) -> list[web.RouteDef]:
    return [web.get("/audit", show)]
