"""The admin API: each module here serves one family of ``/v1/...`` routes.

Every route but ``/healthz`` and ``/v1/openapi.json`` sits behind
``Authorization: Bearer <token>`` and names the scope it needs
(``gateway.settings.tokens.SCOPES``). Wrong tokens are slowed per client address
(``FailureLimiter``). Changes are written to the audit log by what makes
them, naming the token (``Api.actor_of``). Each module takes the store as
the narrow protocol it needs (``gateway.store``), so a route for runs cannot
touch the queue.
"""

from __future__ import annotations

import asyncio
import hmac
import math
import secrets
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

import structlog
from aiohttp import web

from gateway import json_input
from gateway.billing.batches import Batches
from gateway.decisions import ProblemType
from gateway.entrance.pipeline import InForce, Pipeline, Services
from gateway.errors import InvalidInput
from gateway.errors import RateLimitedError as RateLimitedError
from gateway.metrics import Metrics
from gateway.problems import Handler, problem, problem_for
from gateway.settings import tokens
from gateway.store import Store

log = structlog.get_logger(__name__)


def admin_token(configured: str | None, token_file: Path) -> str:
    """The configured token, else the one kept in the state directory,
    made on first start (readable by Herald's user only)."""
    if configured:
        return configured
    try:
        return token_file.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        token = secrets.token_urlsafe(32)
        token_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        token_file.touch(mode=0o600)
        token_file.write_text(token + "\n", encoding="utf-8")
        return token


T = TypeVar("T")


@dataclass
class _Address:
    """What the limiter knows of one client address."""

    failures: deque[float] = field(default_factory=deque)
    # Token checks under way side by side, and requests queued for a turn.
    checking: int = 0
    waiting: int = 0
    turn: asyncio.Lock = field(default_factory=asyncio.Lock)
    # The earliest time the next token may be checked, once over the limit.
    next_check: float = 0.0


class FailureLimiter:
    """Slows a client that keeps offering wrong tokens, and never refuses a
    valid token because others failed before it.

    An address may offer ``limit`` wrong tokens in ``window`` seconds at its
    own pace. Past that, its tokens are checked one at a time, and each wrong
    one makes the next check wait ``window / limit`` seconds: a guesser gets
    no more than ``limit`` guesses a window, however many connections it
    opens. A request waits for its turn rather than being refused, unless
    ``queue`` requests from its address are waiting already; a valid token
    is served in its turn and holds up no one after it. The pace lasts while
    the address has ``limit`` failures within the window.
    """

    def __init__(self, limit: int = 10, window: float = 60.0, queue: int = 2) -> None:
        self.limit = limit
        self.window = window
        self.queue = queue
        self.interval = window / limit
        self._addresses: dict[str, _Address] = {}

    async def check(self, peer: str, verify: Callable[[], Awaitable[T | None]]) -> T | None:
        """What ``verify()`` answers for a token ``peer`` offers, ``None``
        counting as a failure; awaited in turn while ``peer`` is over the
        limit. ``RateLimitedError`` when the queue for ``peer`` is full."""
        address = self._addresses.setdefault(peer, _Address())
        try:
            now = time.monotonic()
            while address.failures and address.failures[0] <= now - self.window:
                address.failures.popleft()
            # Checks under way count as failures to come, so that a burst sent
            # all at once gets no more than ``limit`` checks side by side.
            if len(address.failures) + address.checking < self.limit:
                address.checking += 1
                try:
                    return self._record(address, await verify())
                finally:
                    address.checking -= 1
            if address.waiting >= self.queue:
                ahead = max(0.0, address.next_check - now) + address.waiting * self.interval
                raise RateLimitedError(max(1, math.ceil(ahead)))
            address.waiting += 1
            try:
                async with address.turn:
                    delay = address.next_check - time.monotonic()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    return self._record(address, await verify())
            finally:
                address.waiting -= 1
        finally:
            if not (address.failures or address.checking or address.waiting):
                self._addresses.pop(peer, None)

    def _record(self, address: _Address, result: T | None) -> T | None:
        if result is None:
            now = time.monotonic()
            address.failures.append(now)
            address.next_check = now + self.interval
        return result

    def retry_after(self, peer: str) -> int:
        """Seconds until a token from ``peer`` would be checked, once ``peer``
        has failed more than ``limit`` times in the window; 0 until then."""
        address = self._addresses.get(peer)
        if address is None:
            return 0
        now = time.monotonic()
        if sum(1 for at in address.failures if at > now - self.window) <= self.limit:
            return 0
        return max(1, math.ceil(address.next_check - now))


@dataclass(frozen=True)
class Identity:
    """Who made a request: a token's name and what it may do."""

    name: str
    scopes: tuple[str, ...]


@dataclass(frozen=True)
class Api:
    """What the admin routes work with."""

    # The services and pipeline in force, read on every request: a reload
    # replaces what the holder holds, and the next request sees it.
    in_force: InForce
    token: str
    batches: Batches
    metrics: Metrics = field(default_factory=Metrics)
    # Tells the queue manager that the queue changed (retry now, release).
    wake: Callable[[], None] = lambda: None

    limiter: FailureLimiter = field(default_factory=FailureLimiter)
    # The scope each guarded handler enforces, for the OpenAPI coverage test.
    scopes: dict[Handler, str] = field(default_factory=dict)

    @property
    def services(self) -> Services:
        return self.in_force.services

    @property
    def pipeline(self) -> Pipeline:
        return self.in_force.pipeline

    @property
    def store(self) -> Store:
        """The whole store. A reload replaces the services, never the store,
        so each route module holds it once, as the narrow protocol it needs."""
        return self.services.store

    #: Who the audit log names for changes made with the admin token.
    actor = "admin-api"

    def actor_of(self, request: web.Request) -> str:
        """Who the audit log names for a change made through this request:
        ``admin-api`` for the admin token, ``token:NAME`` for a scoped one."""
        name = request.get("actor")
        return self.actor if name is None or name == self.actor else f"token:{name}"

    async def identify(self, offered: str) -> Identity | None:
        """The identity behind a bearer token, if it is a live one."""
        # Every token Herald makes is ASCII; anything else (bytes that were not
        # UTF-8 arrive as lone surrogates) is no token at all.
        if not offered.isascii():
            return None
        if hmac.compare_digest(offered.encode(), self.token.encode()):
            return Identity(self.actor, tokens.ALL_SCOPES)
        # Looked up by its SHA-256 digest: timing can tell at most how much of
        # a digest matched, which brings no one closer to a 256-bit secret.
        record = await self.store.find_admin_token(tokens.digest(offered))
        return Identity(record.name, record.scopes) if record else None

    def protect(self, handler: Handler, *, scope: str) -> Handler:
        """``handler``, answering 401 without a valid token, 403 when the token
        lacks ``scope``, and slowing wrong tokens (429 when too many wait);
        changes are audited."""
        if scope not in tokens.SCOPES:
            raise ValueError(f"unknown scope {scope!r}")

        async def guarded(request: web.Request) -> web.StreamResponse:
            peer = request.remote or "unknown"
            offered = bearer_token(request)
            # A request without a token guesses nothing, so it is not counted
            # against its address.
            identity = None
            if offered is not None:
                try:
                    identity = await self.limiter.check(peer, lambda: self.identify(offered))
                except RateLimitedError as exc:
                    log.info("admin_auth_limited", peer=peer, path=request.path)
                    return _rate_limited(exc.retry_after)
            if identity is None:
                reason = "no token" if offered is None else "wrong token"
                log.info("admin_auth_refused", peer=peer, path=request.path, reason=reason)
                wait = self.limiter.retry_after(peer) if offered is not None else 0
                if wait:
                    return _rate_limited(wait)
                return problem(
                    401,
                    "a valid admin token is required: Authorization: Bearer <token>",
                    kind=ProblemType.UNAUTHORIZED,
                    headers={"WWW-Authenticate": 'Bearer realm="herald"'},
                )
            if scope not in identity.scopes:
                log.info("admin_scope_refused", token_name=identity.name, scope=scope)
                return problem(
                    403,
                    f"the token {identity.name!r} lacks the scope {scope!r}",
                    kind=ProblemType.FORBIDDEN,
                    headers={"WWW-Authenticate": f'Bearer realm="herald", scope="{scope}"'},
                )
            request["actor"] = identity.name
            return await handler(request)

        self.scopes[guarded] = scope
        return guarded


def bearer_token(request: web.Request) -> str | None:
    """The token of ``Authorization: Bearer <token>``, if the request offers one."""
    scheme, _, offered = request.headers.get("Authorization", "").partition(" ")
    offered = offered.strip()
    return offered if scheme.lower() == "bearer" and offered else None


def _rate_limited(wait: int) -> web.Response:
    return problem_for(RateLimitedError(wait))


async def read_json(request: web.Request) -> dict[str, Any]:
    """The request's JSON object, read by ``gateway.json_input``: 415 when it is
    not sent as JSON, 400 when it is not JSON, 422 when not an object."""
    body = await json_input.read(request)
    if not isinstance(body, dict):
        raise InvalidInput("#", "must be a JSON object")
    return body


def query_number(
    request: web.Request, name: str, *, default: int, maximum: int, minimum: int = 1
) -> int | web.Response:
    """The whole-number query parameter ``name``, from ``minimum`` to
    ``maximum``, or a 400 problem naming it."""
    text = request.query.get(name, str(default))
    # isdigit() alone takes digits such as "²" that int() refuses, and the
    # length check keeps int() and the store away from a 5,000-digit number.
    if text.isascii() and text.isdigit() and len(text) <= len(str(maximum)):
        value = int(text)
        if minimum <= value <= maximum:
            return value
    return problem(
        400,
        f"{name} must be a whole number from {minimum} to {maximum}",
        kind=ProblemType.INVALID_QUERY,
        errors=[(name, f"got {text!r}")],
    )


def query_choice(
    request: web.Request, name: str, known: Sequence[str]
) -> str | web.Response | None:
    """The query parameter ``name`` when absent or one of ``known``, or a 400
    problem naming it and the values there are."""
    text = request.query.get(name)
    if text is None or text in known:
        return text
    return problem(
        400,
        f"{name} must be one of {', '.join(known)}",
        kind=ProblemType.INVALID_QUERY,
        errors=[(name, f"got {text!r}")],
    )


def page_limit(request: web.Request, maximum: int) -> int | web.Response:
    """The ``limit`` query parameter (default 50), or a 400 problem naming it."""
    return query_number(request, "limit", default=50, maximum=maximum)


def modules() -> list[ModuleType]:
    """Every family of admin routes; each has ``routes(api)`` and ``OPENAPI``."""
    from gateway.admin import (
        audit,
        brand,
        customers,
        definitions,
        delivery,
        health,
        metrics,
        openapi,
        queue,
        runs,
        senders,
        smtp,
        smtp_users,
        suppressions,
        templates,
    )

    return [
        health,
        metrics,
        runs,
        queue,
        senders,
        smtp,
        delivery,
        audit,
        templates,
        brand,
        customers,
        definitions,
        smtp_users,
        suppressions,
        openapi,
    ]


def routes(api: Api) -> list[web.RouteDef]:
    return [route for module in modules() for route in module.routes(api)]
