"""RFC 9457 problem details: every HTTP error Herald returns is one of these."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from http import HTTPStatus
from typing import Any

import structlog
from aiohttp import web

from gateway.errors import InvalidInput, NotFoundError

log = structlog.get_logger(__name__)

MEDIA_TYPE = "application/problem+json"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def problem(
    status: int,
    detail: str,
    *,
    kind: str | None = None,
    errors: Sequence[tuple[str, str]] = (),
    headers: dict[str, str] | None = None,
    **extensions: Any,
) -> web.Response:
    """A problem+json response. ``errors`` are (JSON pointer, detail) pairs that
    name each offending field (RFC 9457 §3, the "errors" extension)."""
    body: dict[str, Any] = {
        "type": f"urn:herald:problem:{kind}" if kind else "about:blank",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
    }
    if errors:
        body["errors"] = [{"pointer": pointer, "detail": text} for pointer, text in errors]
    body.update(extensions)
    return web.Response(
        status=status, text=json.dumps(body), content_type=MEDIA_TYPE, headers=headers
    )


@web.middleware
async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn invalid input, unknown objects, aiohttp's own errors and any crash
    into problem+json, never a traceback."""
    try:
        return await handler(request)
    except InvalidInput as exc:
        return problem(422, str(exc), kind="invalid-field", errors=exc.errors)
    except NotFoundError as exc:
        return problem(404, str(exc), kind="not-found")
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        headers = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
        return problem(exc.status, exc.reason, headers=headers)
    except Exception:
        log.exception("http_handler_failed", path=request.path, method=request.method)
        return problem(500, "Herald failed to handle this request; the error is in its log.")
