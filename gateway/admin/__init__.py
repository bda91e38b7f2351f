"""The admin API: each module here serves one family of ``/v1/...`` routes.

Every route but ``/healthz`` and ``/v1/openapi.json`` sits behind
``Authorization: Bearer <token>`` and names the scope it needs
(``gateway.tokens.SCOPES``). Failed attempts are rate-limited per client
address. Changes are written to the audit log by what makes them, naming
the token (``Api.actor_of``).
"""

from __future__ import annotations

import hmac
import json
import math
import secrets
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import structlog
from aiohttp import web

from gateway import tokens
from gateway.batches import Batches
from gateway.errors import InvalidInput
from gateway.metrics import Metrics
from gateway.pipeline import Pipeline, Services
from gateway.problems import Handler, problem
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


class FailureLimiter:
    """At most ``limit`` failed logins per client address in ``window`` seconds."""

    def __init__(self, limit: int = 10, window: float = 60.0) -> None:
        self.limit = limit
        self.window = window
        self._failures: dict[str, deque[float]] = {}

    def _recent(self, peer: str, now: float) -> deque[float]:
        failures = self._failures.setdefault(peer, deque())
        while failures and failures[0] <= now - self.window:
            failures.popleft()
        if not failures:
            del self._failures[peer]
        return failures

    def retry_after(self, peer: str) -> int:
        """Seconds until ``peer`` may try again; 0 when it may now."""
        now = time.monotonic()
        failures = self._recent(peer, now)
        if len(failures) < self.limit:
            return 0
        return max(1, math.ceil(failures[0] + self.window - now))

    def failed(self, peer: str) -> None:
        self._recent(peer, time.monotonic())
        self._failures.setdefault(peer, deque()).append(time.monotonic())


@dataclass(frozen=True)
class Identity:
    """Who made a request: a token's name and what it may do."""

    name: str
    scopes: tuple[str, ...]


@dataclass(frozen=True)
class Api:
    """What the admin routes work with."""

    services: Services
    token: str
    pipeline: Pipeline
    batches: Batches
    metrics: Metrics = field(default_factory=Metrics)
    # Tells the queue manager that the queue changed (retry now, release).
    wake: Callable[[], None] = lambda: None

    limiter: FailureLimiter = field(default_factory=FailureLimiter)
    # The scope each guarded handler enforces, for the OpenAPI coverage test.
    scopes: dict[Handler, str] = field(default_factory=dict)

    @property
    def store(self) -> Store:
        return self.services.store

    #: Who the audit log names for changes made with the admin token.
    actor = "admin-api"

    def actor_of(self, request: web.Request) -> str:
        """Who the audit log names for a change made through this request:
        ``admin-api`` for the admin token, ``token:NAME`` for a scoped one."""
        name = request.get("actor")
        return self.actor if name is None or name == self.actor else f"token:{name}"

    async def identify(self, request: web.Request) -> Identity | None:
        """The identity behind the request's bearer token, if it holds a live one."""
        scheme, _, offered_text = request.headers.get("Authorization", "").partition(" ")
        offered = offered_text.strip()
        if scheme.lower() != "bearer" or not offered:
            return None
        if hmac.compare_digest(offered.encode(), self.token.encode()):
            return Identity(self.actor, tokens.ALL_SCOPES)
        # Looked up by its SHA-256 digest: timing can tell at most how much of
        # a digest matched, which brings no one closer to a 256-bit secret.
        record = await self.store.find_admin_token(tokens.digest(offered))
        return Identity(record.name, record.scopes) if record else None

    def protect(self, handler: Handler, *, scope: str) -> Handler:
        """``handler``, answering 401 without a valid token, 403 when the token
        lacks ``scope``, 429 after too many failures; changes are audited."""
        if scope not in tokens.SCOPES:
            raise ValueError(f"unknown scope {scope!r}")

        async def guarded(request: web.Request) -> web.StreamResponse:
            peer = request.remote or "unknown"
            wait = self.limiter.retry_after(peer)
            if wait:
                return problem(
                    429,
                    f"too many failed attempts; try again in {wait} seconds",
                    kind="rate-limited",
                    headers={"Retry-After": str(wait)},
                )
            identity = await self.identify(request)
            if identity is None:
                self.limiter.failed(peer)
                log.info("admin_auth_refused", peer=peer, path=request.path)
                return problem(
                    401,
                    "a valid admin token is required: Authorization: Bearer <token>",
                    kind="unauthorized",
                    headers={"WWW-Authenticate": 'Bearer realm="herald"'},
                )
            if scope not in identity.scopes:
                log.info("admin_scope_refused", token=identity.name, scope=scope)
                return problem(
                    403,
                    f"the token {identity.name!r} lacks the scope {scope!r}",
                    kind="forbidden",
                    headers={"WWW-Authenticate": f'Bearer realm="herald", scope="{scope}"'},
                )
            request["actor"] = identity.name
            return await handler(request)

        self.scopes[guarded] = scope
        return guarded


async def read_json(request: web.Request) -> dict[str, Any]:
    """The request's JSON object: 400 when it is not JSON, 422 when not an object."""
    try:
        body = json.loads(await request.read())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise web.HTTPBadRequest(reason=f"the body is not valid JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise InvalidInput("#", "must be a JSON object")
    return body


def page_limit(request: web.Request, maximum: int) -> int | web.Response:
    """The ``limit`` query parameter (default 50), or a 400 problem naming it."""
    text = request.query.get("limit", "50")
    if text.isdigit() and 1 <= int(text) <= maximum:
        return int(text)
    return problem(
        400,
        f"limit must be a whole number from 1 to {maximum}",
        kind="invalid-query",
        errors=[("limit", f"got {text!r}")],
    )


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
        openapi,
    ]


def routes(api: Api) -> list[web.RouteDef]:
    return [route for module in modules() for route in module.routes(api)]
