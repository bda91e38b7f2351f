"""RFC 9457 problem details: every HTTP error Herald returns is one of these.

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

from gateway.errors import InvalidInput, MalformedBodyError, NotFoundError
from gateway.json_input import UnsupportedMediaTypeError

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
    if "\x00" in request.path or any("\x00" in k + v for k, v in request.query.items()):
        # No name or id Herald keeps can hold NUL, and PostgreSQL text cannot:
        # a lookup with one could only fail, so it is refused before any.
        return problem(400, "the URL must not hold NUL (%00)", kind="invalid-url")
    try:
        return await handler(request)
    except InvalidInput as exc:
        return problem(422, str(exc), kind="invalid-field", errors=exc.errors)
    except MalformedBodyError as exc:
        return problem(400, f"the body is not valid {exc.media}: {exc}", kind="malformed-body")
    except UnsupportedMediaTypeError as exc:
        return problem(415, str(exc), kind="unsupported-media-type")
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
