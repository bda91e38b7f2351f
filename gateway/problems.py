"""RFC 9457 problem details: every HTTP error Herald returns is one of these,
each made from its row in ``gateway.decisions``.

The exceptions are requests that aiohttp refuses itself, before any handler
runs (a malformed request line or header); ``server_logger`` logs each of
those as one structured event.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from http import HTTPStatus
from typing import Any

import structlog
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from gateway.decisions import ProblemType, answer
from gateway.errors import InvalidInput, Reject

log = structlog.get_logger(__name__)

MEDIA_TYPE = "application/problem+json"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def problem(
    status: int,
    detail: str,
    *,
    kind: ProblemType | None = None,
    errors: Sequence[tuple[str, str]] = (),
    headers: dict[str, str] | None = None,
    **extensions: Any,
) -> web.Response:
    """A problem+json response. ``errors`` are (JSON pointer, detail) pairs that
    name each offending field (RFC 9457 §3, the "errors" extension)."""
    body: dict[str, Any] = {
        "type": kind.uri if kind else "about:blank",
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


def problem_for(
    error: BaseException, *, headers: dict[str, str] | None = None, **extensions: Any
) -> web.Response:
    """The problem ``error`` answers, by its row in ``gateway.decisions``: its
    status, type, detail and Retry-After, and the fields it names."""
    row = answer(error)
    errors: Sequence[tuple[str, str]] = ()
    if isinstance(error, InvalidInput):
        errors = error.errors
    elif isinstance(error, Reject):
        errors = error.errors or [(f"#/{error.field}" if error.field else "#", error.reason)]
    wait = row.retry_after_of(error)
    if wait is not None:
        headers = {**(headers or {}), "Retry-After": str(wait)}
    return problem(
        row.status,
        row.detail_of(error),
        kind=row.problem,
        errors=errors,
        headers=headers,
        **extensions,
    )


@web.middleware
async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn every error into the problem its row in ``gateway.decisions`` says,
    aiohttp's own errors into theirs, and any crash into a 500; never a traceback."""
    if "\x00" in request.path or any("\x00" in k + v for k, v in request.query.items()):
        # No name or id Herald keeps can hold NUL, and PostgreSQL text cannot:
        # a lookup with one could only fail, so it is refused before any.
        return problem(400, "the URL must not hold NUL (%00)", kind=ProblemType.INVALID_URL)
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        headers = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
        return problem(exc.status, exc.reason, headers=headers)
    except Exception as exc:
        if answer(exc).status >= HTTPStatus.INTERNAL_SERVER_ERROR:
            # Herald's own fault: its traceback goes to the log, once, and
            # the client learns only that it is there.
            log.exception("http_handler_failed", path=request.path, method=request.method)
        return problem_for(exc)


class _ServerLog(logging.Handler):
    """aiohttp's server logs through the standard library, with a traceback
    even for a request it merely refused; this hands each record to structlog
    as one event."""

    def emit(self, record: logging.LogRecord) -> None:
        error = record.exc_info[1] if record.exc_info else None
        peer = record.args[0] if isinstance(record.args, tuple) and record.args else None
        if isinstance(error, HttpProcessingError):
            # aiohttp has answered 400 already; the log needs who sent it and
            # the first line of why. A client's fault is worth an info line,
            # and stray non-HTTP traffic (a TLS hello, a scanner), which
            # aiohttp logs at debug, stays there.
            log.log(
                min(record.levelno, logging.INFO),
                "http_request_malformed",
                peer=peer,
                status=error.code,
                reason=error.message.strip().splitlines()[0].rstrip(":") if error.message else "",
            )
        elif error is not None:
            log.error("http_server_failed", message=record.getMessage(), exc_info=record.exc_info)
        else:
            log.log(record.levelno, "http_server_note", message=record.getMessage())


def server_logger() -> logging.Logger:
    """The logger to give aiohttp's server (``AppRunner(logger=...)``)."""
    logger = logging.getLogger("herald.http.server")
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    if not any(isinstance(h, _ServerLog) for h in logger.handlers):
        logger.addHandler(_ServerLog())
    return logger
