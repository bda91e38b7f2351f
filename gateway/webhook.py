"""``POST /v1/events``: platform events in, 202 once the run is committed.

Requests are signed the Standard Webhooks way when a secret is set: an
HMAC-SHA256 over ``id.timestamp.body``, checked in constant time against each
configured secret, so secrets can be rotated without downtime.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from collections.abc import Mapping, Sequence

import structlog
from aiohttp import web

from gateway.errors import Defer, Overloaded, Reject, StageError, StoreError
from gateway.events import InvalidEvent, context_for, parse_event
from gateway.intake import Intake
from gateway.problems import problem
from gateway.store import new_id

log = structlog.get_logger(__name__)

TOLERANCE = 300  # seconds either way, as Standard Webhooks recommends
OVERLOADED_RETRY_AFTER = 30  # seconds a platform should wait when the queue is full


class SignatureError(ValueError):
    pass


def _key(secret: str) -> bytes:
    if secret.startswith("whsec_"):
        try:
            return base64.b64decode(secret.removeprefix("whsec_"), validate=True)
        except binascii.Error:
            pass
    return secret.encode()


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` value for a message, as a sender computes it."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def verify(
    secrets: Sequence[str], headers: Mapping[str, str], body: bytes, *, now: float | None = None
) -> None:
    """Raise ``SignatureError`` unless one of ``secrets`` signed this request."""
    msg_id = headers.get("webhook-id", "")
    stamp = headers.get("webhook-timestamp", "")
    offered = headers.get("webhook-signature", "").split()
    if not (msg_id and stamp and offered):
        raise SignatureError("webhook-id, webhook-timestamp and webhook-signature are required")
    if not (stamp.isascii() and stamp.isdigit()):
        raise SignatureError("webhook-timestamp must be whole seconds since the epoch")
    now = time.time() if now is None else now
    if abs(now - int(stamp)) > TOLERANCE:
        raise SignatureError("webhook-timestamp is more than 5 minutes away from now")
    for secret in secrets:
        expected = sign(secret, msg_id, int(stamp), body).encode()
        # Compare every candidate: stopping early would tell an attacker
        # how many signatures were wrong.
        if any(hmac.compare_digest(expected, candidate.encode()) for candidate in offered):
            return
    raise SignatureError("no valid signature")


class Webhook:
    def __init__(self, intake: Intake, secrets: Sequence[str], mail_from: str) -> None:
        self.intake = intake
        self.secrets = secrets
        self.mail_from = mail_from

    def routes(self) -> list[web.RouteDef]:
        return [web.post("/v1/events", self.post_event)]

    async def post_event(self, request: web.Request) -> web.Response:
        try:
            with self.intake.admit("webhook"):
                return await self._accept(request)
        except Overloaded as exc:
            return _overloaded(exc)

    async def _accept(self, request: web.Request) -> web.Response:
        body = await request.read()
        if self.secrets:
            try:
                verify(self.secrets, request.headers, body)
            except SignatureError as exc:
                log.info("webhook_signature_refused", reason=str(exc), peer=request.remote)
                return problem(401, str(exc), kind="invalid-signature")
        try:
            event = parse_event(json.loads(body))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            return problem(400, f"the body is not valid JSON: {exc}", kind="malformed-body")
        except InvalidEvent as exc:
            return problem(
                422, f"the event is invalid: {exc}", kind="invalid-event", errors=exc.errors
            )
        run_id = new_id("run")
        structlog.contextvars.bind_contextvars(run_id=run_id)
        ctx = context_for(event, run_id=run_id, mail_from=self.mail_from)
        try:
            accepted = await self.intake.submit(ctx, idempotency_key=f"event:{event.id}")
        except Reject as exc:
            pointer = f"#/{exc.field}" if exc.field else "#"
            return problem(
                422, exc.reason, kind="rejected", errors=[(pointer, exc.reason)], run_id=run_id
            )
        except Overloaded as exc:
            return _overloaded(exc)
        except Defer as exc:
            return problem(503, exc.reason, kind="deferred", headers={"Retry-After": "60"})
        except StageError as exc:
            return problem(500, str(exc), kind="stage-failed", run_id=run_id)
        except StoreError:
            log.exception("event_not_stored")
            return problem(
                503,
                "the event could not be stored; try again",
                kind="store-unavailable",
                headers={"Retry-After": "30"},
            )
        finally:
            structlog.contextvars.unbind_contextvars("run_id")
        return web.json_response(
            {"run_id": accepted.run_id, "status": accepted.status, "duplicate": accepted.duplicate},
            status=202,
        )


def _overloaded(exc: Overloaded) -> web.Response:
    return problem(
        503,
        f"{exc.reason}; try again later",
        kind="queue-full",
        headers={"Retry-After": str(OVERLOADED_RETRY_AFTER)},
    )
