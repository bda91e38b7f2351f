"""``POST /v1/events``: platform events in, 202 once the run is committed.

Requests are signed the Standard Webhooks way when a secret is set: an
HMAC-SHA256 over ``id.timestamp.body``, checked in constant time against each
configured secret, so secrets can be rotated without downtime.

Both the event's ``id`` and the delivery's ``webhook-id`` are idempotency
keys: a platform retrying a delivery, or resending an event, gets the first
run back and nothing is sent twice.
"""

from __future__ import annotations

from collections.abc import Sequence

import structlog
from aiohttp import web

from gateway import json_input
from gateway.decisions import ProblemType
from gateway.entrance.intake import Accepted, Intake
from gateway.errors import (
    BodyTooLarge,
    Defer,
    InvalidEvent,
    Overloaded,
    Reject,
    StageError,
    StoreError,
)
from gateway.ingress.events import context_for, read_event
from gateway.openapi import Json, json_body, operation, ref
from gateway.problems import problem, problem_for
from gateway.signing import MAX_WEBHOOK_ID, SignatureError, valid_delivery_id, verify
from gateway.store import new_id

log = structlog.get_logger(__name__)


async def read_bounded(request: web.Request, limit: int) -> bytes:
    """The request body, or ``BodyTooLarge`` as soon as it passes ``limit`` bytes."""
    if request.content_length is not None and request.content_length > limit:
        raise BodyTooLarge(limit)
    body = bytearray()
    async for chunk in request.content.iter_chunked(64 * 1024):
        body += chunk
        if len(body) > limit:
            raise BodyTooLarge(limit)
    return bytes(body)


def _accepted(accepted: Accepted) -> web.Response:
    return web.json_response(
        {"run_id": accepted.run_id, "status": accepted.status, "duplicate": accepted.duplicate},
        status=202,
    )


def _signature_header(name: str, description: str) -> Json:
    return {
        "name": name,
        "in": "header",
        "required": False,
        "description": description + " (required when webhook secrets are set)",
        "schema": {"type": "string"},
    }


_TEXT = {"type": "string", "minLength": 1, "maxLength": 256}
SCHEMAS: dict[str, Json] = {
    "Event": {
        "type": "object",
        "required": ["id", "type", "occurred_at", "recipient"],
        "properties": {
            "id": _TEXT,
            "type": {"type": "string", "minLength": 1, "maxLength": 64},
            "occurred_at": {"type": "string", "format": "date-time"},
            "recipient": {
                "type": "object",
                "required": ["kind", "id", "email"],
                "properties": {
                    "kind": {"enum": ["customer", "reseller"]},
                    "id": _TEXT,
                    "name": {"type": "string", "maxLength": 256},
                    "email": {"type": "string", "format": "email", "maxLength": 254},
                },
            },
            "data": {"type": "object"},
        },
    },
    "Accepted": {
        "type": "object",
        "required": ["run_id", "status", "duplicate"],
        "properties": {
            "run_id": {"type": "string"},
            "status": {"type": "string"},
            "duplicate": {"type": "boolean"},
        },
    },
}
OPENAPI: dict[str, Json] = {
    "/v1/events": {
        "post": operation(
            "Submit a platform event; 202 once its run is committed",
            scope=None,
            ok={202: json_body(ref("Accepted"), "Committed, or a duplicate of an earlier run")},
            problems=(400, 401, 413, 422, 503),
            parameters=[
                _signature_header("webhook-id", "The delivery id, an idempotency key"),
                _signature_header("webhook-timestamp", "Seconds since the epoch, within 5 minutes"),
                _signature_header(
                    "webhook-signature", "v1,<base64 HMAC-SHA256 of id.timestamp.body>"
                ),
            ],
            body=ref("Event"),
        )
    }
}


class Webhook:
    def __init__(
        self, intake: Intake, secrets: Sequence[str], mail_from: str, *, max_size: int
    ) -> None:
        self.intake = intake
        self.secrets = secrets
        self.mail_from = mail_from
        self.max_size = max_size

    def routes(self) -> list[web.RouteDef]:
        return [web.post("/v1/events", self.post_event)]

    async def post_event(self, request: web.Request) -> web.Response:
        try:
            with self.intake.admit("webhook"):
                return await self._accept(request)
        except Overloaded as exc:
            return problem_for(exc)

    async def _accept(self, request: web.Request) -> web.Response:
        json_input.check_media_type(request)
        delivery = request.headers.get("webhook-id", "")
        if not valid_delivery_id(delivery):
            return problem(
                400,
                f"webhook-id must be printable and at most {MAX_WEBHOOK_ID} characters",
                kind=ProblemType.INVALID_HEADER,
                errors=[("webhook-id", "not a valid delivery id")],
            )
        try:
            body = await read_bounded(request, self.max_size)
        except BodyTooLarge as exc:
            # The rest of the body is never read, so the connection cannot
            # carry another request.
            return problem_for(exc, headers={"Connection": "close"})
        if self.secrets:
            try:
                verify(self.secrets, request.headers, body)
            except SignatureError as exc:
                log.info("webhook_signature_refused", reason=str(exc), peer=request.remote)
                return problem_for(exc)
        delivery_keys = (f"webhook:{delivery}",) if delivery else ()
        # Standard Webhooks: a retried delivery carries the same webhook-id;
        # answer it as the first time, whatever its body says now.
        earlier = await self.intake.duplicate(*delivery_keys)
        if earlier is not None:
            return _accepted(earlier)
        try:
            event = read_event(body)
        except InvalidEvent as exc:
            return problem_for(exc)
        run_id = new_id("run")
        structlog.contextvars.bind_contextvars(run_id=run_id)
        ctx = context_for(event, run_id=run_id, mail_from=self.mail_from)
        try:
            accepted = await self.intake.submit(
                ctx, idempotency_key=f"event:{event.id}", other_keys=delivery_keys
            )
        except (Reject, StageError) as exc:
            # Both are recorded as the run's outcome, which the platform can look up.
            return problem_for(exc, run_id=run_id)
        except (Defer, StoreError) as exc:
            if isinstance(exc, StoreError):
                log.exception("event_not_stored")
            return problem_for(exc)
        finally:
            structlog.contextvars.unbind_contextvars("run_id")
        return _accepted(accepted)
