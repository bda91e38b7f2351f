"""The admin API: each module here serves one family of ``/v1/...`` routes.

Every route but ``/healthz`` sits behind ``Authorization: Bearer <token>``.
"""

from __future__ import annotations

import hmac
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog
from aiohttp import web

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

    #: Who the audit log names for changes made through the API.
    actor = "admin-api"

    @property
    def store(self) -> Store:
        return self.services.store

    def protect(self, handler: Handler) -> Handler:
        """``handler``, answering 401 unless the request carries the admin token."""
        expected = self.token.encode()

        async def guarded(request: web.Request) -> web.StreamResponse:
            scheme, _, offered = request.headers.get("Authorization", "").partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(
                offered.strip().encode(), expected
            ):
                log.info("admin_auth_refused", peer=request.remote, path=request.path)
                return problem(
                    401,
                    "a valid admin token is required: Authorization: Bearer <token>",
                    kind="unauthorized",
                    headers={"WWW-Authenticate": 'Bearer realm="herald"'},
                )
            return await handler(request)

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


def routes(api: Api) -> list[web.RouteDef]:
    from gateway.admin import (
        audit,
        brand,
        customers,
        definitions,
        delivery,
        health,
        metrics,
        queue,
        runs,
        senders,
        smtp,
        templates,
    )

    return [
        *health.routes(api),
        *metrics.routes(api),
        *runs.routes(api),
        *queue.routes(api),
        *senders.routes(api),
        *smtp.routes(api),
        *delivery.routes(api),
        *audit.routes(api),
        *templates.routes(api),
        *brand.routes(api),
        *customers.routes(api),
        *definitions.routes(api),
    ]
