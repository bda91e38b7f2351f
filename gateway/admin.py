"""The admin API: runs and health, behind a bearer token."""

from __future__ import annotations

import hmac
import secrets
from pathlib import Path

import structlog
from aiohttp import web

from gateway.errors import NotFoundError, StoreError
from gateway.problems import Handler, problem
from gateway.store import Store, as_json

log = structlog.get_logger(__name__)

MAX_PAGE = 200


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


class Admin:
    def __init__(self, store: Store, token: str) -> None:
        self.store = store
        self.token = token.encode()

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/healthz", self.health),
            web.get("/v1/runs", self.protect(self.list_runs)),
            web.get("/v1/runs/{run_id}", self.protect(self.show_run)),
        ]

    def protect(self, handler: Handler) -> Handler:
        async def guarded(request: web.Request) -> web.StreamResponse:
            scheme, _, offered = request.headers.get("Authorization", "").partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(
                offered.strip().encode(), self.token
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

    async def health(self, request: web.Request) -> web.Response:
        try:
            await self.store.ping()
        except StoreError as exc:
            return problem(503, f"the store is unreachable: {exc}", kind="store-unavailable")
        return web.json_response({"status": "ok"})

    async def list_runs(self, request: web.Request) -> web.Response:
        query = request.query
        limit_text = query.get("limit", "50")
        if not limit_text.isdigit() or not 1 <= int(limit_text) <= MAX_PAGE:
            return problem(
                400,
                f"limit must be a whole number from 1 to {MAX_PAGE}",
                kind="invalid-query",
                errors=[("limit", f"got {limit_text!r}")],
            )
        page = await self.store.list_runs(
            status=query.get("status"),
            email_type=query.get("type"),
            limit=int(limit_text),
            cursor=query.get("cursor"),
        )
        body: dict[str, object] = {"runs": [as_json(run) for run in page.runs]}
        if page.next_cursor:
            body["next_cursor"] = page.next_cursor
            body["next"] = str(request.rel_url.update_query(cursor=page.next_cursor))
        return web.json_response(body)

    async def show_run(self, request: web.Request) -> web.Response:
        try:
            run = await self.store.get_run(request.match_info["run_id"])
        except NotFoundError as exc:
            return problem(404, str(exc), kind="not-found")
        return web.json_response(as_json(run))
