"""Signing in and out.

Before a session exists, the sign-in form is protected by a token kept in a
cookie of its own and repeated in the form, besides the ``Origin`` check.
Wrong names, passwords and codes are slowed per client address and per
account (``FailureLimiter``): a guesser waits its turn, and a right password
is served in its turn, so no one is locked out.
"""

from __future__ import annotations

import asyncio
import hmac
import secrets

import structlog
from aiohttp import web

from gateway.console import (
    COOKIE,
    Console,
    console_of,
    current_session,
    digest,
    form_text,
    redirect,
    render,
    requires,
    same_origin,
    session_of,
)
from gateway.errors import InvalidInput, NotFoundError, RateLimitedError
from gateway.settings import users
from gateway.store import ConsoleUser

log = structlog.get_logger(__name__)

_FORM_COOKIE = "herald_signin"
_WRONG = "The name, password or code is wrong."


def _safe_next(target: str | None) -> str:
    """Where to go after signing in: a path of this console, never elsewhere."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def _form(
    request: web.Request, *, status: int = 200, error: str = "", name: str = ""
) -> web.Response:
    token = secrets.token_urlsafe(32)
    response = render(
        request,
        "signin.html",
        status=status,
        form_token=token,
        next=_safe_next(request.query.get("next")),
        error=error,
        name=name,
    )
    response.set_cookie(
        _FORM_COOKIE,
        token,
        httponly=True,
        samesite="Strict",
        secure=request.secure,
        path="/sign-in",
        max_age=3600,
    )
    return response


async def show(request: web.Request) -> web.StreamResponse:
    if await current_session(request) is not None:
        return redirect(_safe_next(request.query.get("next")))
    return _form(request)


async def sign_in(request: web.Request) -> web.StreamResponse:
    console = console_of(request)
    form = await request.post()
    expected = request.cookies.get(_FORM_COOKIE, "")
    offered = form.get("form_token")
    if (
        not same_origin(request)
        or not expected
        or not isinstance(offered, str)
        or not hmac.compare_digest(offered.encode(errors="surrogateescape"), expected.encode())
    ):
        log.info("console_signin_forged", peer=request.remote)
        return _form(request, status=403, error="This form is out of date; try again.")
    try:
        name = form_text(form, "name", limit=64)
        password = form_text(form, "password", limit=users.MAX_PASSWORD)
        code = form_text(form, "code", limit=16)
    except InvalidInput:
        return _form(request, status=422, error=_WRONG)
    peer = request.remote or "unknown"

    async def verify() -> ConsoleUser | None:
        return await _verify(console, name, password, code)

    try:
        user = await console.by_address.check(
            peer, lambda: console.by_account.check(name.lower(), verify)
        )
    except RateLimitedError as exc:
        log.info("console_signin_limited", peer=peer, user=name)
        return _form(
            request,
            status=429,
            error=f"Too many failed attempts; try again in {exc.retry_after} seconds.",
            name=name,
        )
    if user is None:
        log.info("console_signin_refused", peer=peer, user=name)
        return _form(request, status=401, error=_WRONG, name=name)
    secret = secrets.token_urlsafe(32)
    await console.api.store.add_console_session(
        digest(secret), user.name, secrets.token_urlsafe(32)
    )
    log.info("console_signed_in", user=user.name, peer=peer)
    response = redirect(_safe_next(form_text(form, "next", limit=2000)))
    response.set_cookie(
        COOKIE, secret, httponly=True, samesite="Strict", secure=request.secure, path="/"
    )
    response.del_cookie(_FORM_COOKIE, path="/sign-in")
    return response


async def _verify(console: Console, name: str, password: str, code: str) -> ConsoleUser | None:
    try:
        user: ConsoleUser | None = await console.api.store.get_console_user(name)
    except NotFoundError:
        user = None
    # The hash costs tens of milliseconds of CPU: off the loop, and paid for
    # unknown names too, so that the time taken says nothing about them.
    if not await asyncio.to_thread(users.password_matches, user, password):
        return None
    if user is None or user.disabled_at is not None:
        return None
    if user.totp_sealed is not None:
        step = users.totp_step(console.vault.open(user.totp_sealed), code)
        # RFC 6238 §5.2: a code is taken once, on whichever node sees it first.
        if step is None or not await console.api.store.take_totp_step(user.name, step):
            return None
    return user


@requires(None)
async def sign_out(request: web.Request) -> web.StreamResponse:
    session = session_of(request)
    await console_of(request).api.store.end_console_session(session.digest)
    log.info("console_signed_out", user=session.user.name)
    response = redirect("/sign-in")
    response.del_cookie(COOKIE, path="/")
    return response


def routes(console: Console) -> list[web.RouteDef]:
    return [
        web.get("/sign-in", show),
        web.post("/sign-in", sign_in),
        web.post("/sign-out", sign_out),
    ]
