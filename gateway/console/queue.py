"""The queue: what waits and why (its next attempt, the last attempt's
error), and the operator's retry now, hold, release and purge, on one
message or on a selection.

The page is one form: a checkbox per message and the actions under the
table act on the selection; each row's own buttons act on that message
alone. A purge asks why, and the reason is kept on the run. Every action
is the store's, as for ``/v1/queue`` and ``herald queue``, with the same
checks of a message id and a reason.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiohttp import web
from multidict import MultiMapping

from gateway.console import (
    Console,
    Link,
    console_of,
    field_errors,
    flash,
    form_text,
    redirect,
    render,
    requires,
)
from gateway.errors import InvalidInput, NotFoundError
from gateway.queue.qmgr import check_message_id, check_reason
from gateway.store import OperatorQueueStore

READ = "runs:read"
OPERATE = "queue:operate"
NAV = (Link("Queue", "/queue", READ),)
# Messages on the page, the earliest due first; the counts above say how many wait in all.
SHOWN = 200
# The most messages one form may act on: a page's worth.
MOST = SHOWN

# An action's arguments: the store, the message, the reason (a purge's) and who acts.
Action = Callable[[OperatorQueueStore, str, str, str], Awaitable[None]]


async def _retry(store: OperatorQueueStore, message_id: str, reason: str, actor: str) -> None:
    await store.retry_now(message_id)


async def _hold(store: OperatorQueueStore, message_id: str, reason: str, actor: str) -> None:
    await store.hold(message_id, actor=actor)


async def _release(store: OperatorQueueStore, message_id: str, reason: str, actor: str) -> None:
    await store.release(message_id, actor=actor)


async def _purge(store: OperatorQueueStore, message_id: str, reason: str, actor: str) -> None:
    await store.purge(message_id, reason, actor=actor)


# Each action: what it does, and how the flash message says it was done.
ACTIONS: Mapping[str, tuple[Action, str]] = {
    "retry": (_retry, "due now"),
    "hold": (_hold, "held"),
    "release": (_release, "released"),
    "purge": (_purge, "purged"),
}


async def _page(
    request: web.Request,
    *,
    status: int = 200,
    errors: Mapping[str, str] | None = None,
    chosen: frozenset[str] = frozenset(),
    reason: str = "",
) -> web.Response:
    store = console_of(request).api.store
    stats = await store.queue_stats()
    entries = await store.list_queue(limit=SHOWN)
    return render(
        request,
        "queue.html",
        status=status,
        stats=stats,
        entries=entries,
        shown=SHOWN,
        chosen=chosen,
        errors=dict(errors or {}),
        values={"reason": reason},
        now=time.time(),
    )


@requires(READ)
async def show(request: web.Request) -> web.StreamResponse:
    return await _page(request)


def _selection(form: MultiMapping[Any]) -> list[str]:
    """The messages a form acts on: the row's own button (``only``), else
    every ticked checkbox (``message``), each checked as the API checks it."""
    only = form.get("only")
    picked = [only] if only else form.getall("message", [])
    if not picked:
        raise InvalidInput("#/message", "Tick at least one message first.")
    if len(picked) > MOST:
        raise InvalidInput("#/message", f"Act on at most {MOST} messages at once.")
    ids = []
    for value in picked:
        if not isinstance(value, str) or len(value) > 64:
            raise InvalidInput("#/message", "That is not a message id.")
        ids.append(check_message_id(value, "#/message"))
    return list(dict.fromkeys(ids))


@requires(OPERATE)
async def act(request: web.Request) -> web.StreamResponse:
    name = request.match_info["action"]
    if name not in ACTIONS:
        raise NotFoundError(f"no queue action {name!r}")
    action, done = ACTIONS[name]
    form = await request.post()
    picked = frozenset(v for v in form.getall("message", []) if isinstance(v, str))
    reason_text = ""
    try:
        reason_text = form_text(form, "reason", limit=1000)
        ids = _selection(form)
        reason = ""
        if name == "purge":
            if not reason_text:
                raise InvalidInput("#/reason", "Say why these messages are purged.")
            reason = check_reason(reason_text)
    except InvalidInput as exc:
        return await _page(
            request, status=422, errors=field_errors(exc), chosen=picked, reason=reason_text
        )
    api = console_of(request).api
    acted, gone = [], []
    for message_id in ids:
        try:
            await action(api.store, message_id, reason, console_of(request).actor(request))
        except NotFoundError:
            # Sent or purged since the page was shown: say so, act on the others.
            gone.append(message_id)
        else:
            acted.append(message_id)
    api.wake()
    if acted:
        await flash(request, f"{len(acted)} message(s) {done}: {', '.join(acted)}.")
    if gone:
        await flash(request, f"No longer waiting, left as they are: {', '.join(gone)}.", "error")
    return redirect("/queue")


@requires(OPERATE)
async def retry_all(request: web.Request) -> web.StreamResponse:
    api = console_of(request).api
    count = await api.store.retry_now(None)
    api.wake()
    await flash(request, f"{count} queued message(s) due now.")
    return redirect("/queue")


def routes(console: Console) -> list[web.RouteDef]:
    return [
        web.get("/queue", show),
        web.post("/queue/retry-all", retry_all),
        web.post("/queue/{action}", act),
    ]
