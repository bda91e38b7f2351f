"""Platform events: the webhook's JSON body, validated field by field."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from gateway import json_input
from gateway.addresses import check_address, check_encoded_words, check_header_text
from gateway.content.mime import cleanup
from gateway.context import Context, Event, EventRecipient
from gateway.entrance.pipeline import Pipeline
from gateway.errors import Decision, Drop, InvalidInput, Reject, StageError
from gateway.errors import InvalidEvent as InvalidEvent
from gateway.store import new_id

_KINDS = ("customer", "reseller")


def _text(
    body: dict[str, Any],
    key: str,
    pointer: str,
    errors: list[tuple[str, str]],
    *,
    required: bool = True,
    limit: int = 256,
) -> str:
    value = body.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()):
        errors.append((pointer, "must be a non-empty string" if required else "must be a string"))
        return ""
    if len(value) > limit:
        errors.append((pointer, f"must be at most {limit} characters"))
    try:
        check_header_text(value, "the value")
    except ValueError as exc:
        errors.append((pointer, str(exc)))
    return value


def _data_errors(data: dict[str, Any]) -> list[tuple[str, str]]:
    """Strings in ``data`` holding an encoded word that decodes to a line break.

    Data may reach a subject, where its own line breaks are folded into
    spaces, but a break hidden in an RFC 2047 encoded word would be decoded
    there and split the header; no event needs one, so it is refused here,
    naming the field, before anything is recorded.
    """
    errors = []
    # A stack, not recursion: the depth of the data is the sender's choice.
    stack: list[tuple[str, Any]] = [("#/data", data)]
    while stack:
        pointer, value = stack.pop()
        if isinstance(value, str):
            try:
                check_encoded_words(value, "the value")
            except ValueError as exc:
                errors.append((pointer, str(exc)))
        elif isinstance(value, dict):
            stack.extend((f"{pointer}/{_escaped(str(k))}", v) for k, v in value.items())
        elif isinstance(value, list):
            stack.extend((f"{pointer}/{n}", v) for n, v in enumerate(value))
    return sorted(errors)


def _escaped(key: str) -> str:
    # RFC 6901 §3: "~" and "/" in a key are written "~0" and "~1".
    return key.replace("~", "~0").replace("/", "~1")


def parse_event(body: Any) -> Event:
    """An ``Event`` from a decoded JSON body, or ``InvalidEvent`` naming every bad field."""
    if not isinstance(body, dict):
        raise InvalidEvent([("#", "must be a JSON object")])
    errors: list[tuple[str, str]] = []
    event_id = _text(body, "id", "#/id", errors)
    event_type = _text(body, "type", "#/type", errors, limit=64)
    occurred_at = datetime.fromtimestamp(0).astimezone()
    stamp = _text(body, "occurred_at", "#/occurred_at", errors)
    if stamp:
        try:
            occurred_at = datetime.fromisoformat(stamp)
            if occurred_at.tzinfo is None:
                raise ValueError("no offset")
        except ValueError:
            errors.append(("#/occurred_at", "must be an RFC 3339 date-time with an offset"))
    recipient = body.get("recipient")
    kind = email = rid = name = ""
    if not isinstance(recipient, dict):
        errors.append(("#/recipient", "must be an object with kind, id, name and email"))
    else:
        kind = _text(recipient, "kind", "#/recipient/kind", errors)
        if kind and kind not in _KINDS:
            errors.append(("#/recipient/kind", 'must be "customer" or "reseller"'))
        rid = _text(recipient, "id", "#/recipient/id", errors)
        name = _text(recipient, "name", "#/recipient/name", errors, required=False)
        email = _text(recipient, "email", "#/recipient/email", errors)
        if email and all(pointer != "#/recipient/email" for pointer, _ in errors):
            try:
                check_address(email, "the address")
            except ValueError as exc:
                errors.append(("#/recipient/email", str(exc)))
    data = body.get("data", {})
    if not isinstance(data, dict):
        errors.append(("#/data", "must be an object"))
    else:
        errors += _data_errors(data)
    if errors:
        raise InvalidEvent(errors)
    return Event(
        id=event_id,
        type=event_type,
        occurred_at=occurred_at,
        recipient=EventRecipient(
            kind="reseller" if kind == "reseller" else "customer", id=rid, email=email, name=name
        ),
        data=data,
    )


def read_event(body: bytes) -> Event:
    """The ``Event`` in a request body: JSON that breaks a rule of
    ``gateway.json_input`` and JSON that is no event are both ``InvalidEvent``,
    with their pointers; text that is not JSON is ``MalformedJsonError``."""
    try:
        # The event's data is kept as JSON, whose escapes hold U+0000;
        # parse_event refuses it where it would reach a header.
        decoded = json_input.loads(body, allow_nul=True)
    except InvalidInput as exc:
        raise InvalidEvent(exc.errors) from exc
    return parse_event(decoded)


def context_for(event: Event, *, run_id: str, mail_from: str) -> Context:
    """The pipeline's ``Context`` for ``event``: its recipient is the To."""
    ctx = Context(
        source="webhook", email_type=event.type, run_id=run_id, mail_from=mail_from, event=event
    )
    ctx.add_recipient(event.recipient.email, "to", f"event.recipient ({event.recipient.kind})")
    return ctx


async def dry_run(pipeline: Pipeline, body: Any, *, mail_from: str) -> dict[str, Any]:
    """Who would receive the event ``body``, and by which rule: the pipeline
    runs as for real, but nothing is recorded, queued or sent.

    Raises ``InvalidEvent`` when the body is not a valid event.
    """
    ctx = context_for(parse_event(body), run_id=new_id("dry"), mail_from=mail_from)
    decision, reason = "send", None
    try:
        await pipeline.run(ctx)
        assert ctx.message is not None  # the pipeline raises StageError otherwise
        # The queue's entrance would refuse the message as the intake hands it over.
        cleanup(ctx.message, message_id=pipeline.message_id(ctx))
    except Drop as exc:
        decision, reason = "drop", exc.reason
    except Decision as exc:
        kind = "reject" if isinstance(exc, Reject) else type(exc).__name__.lower()
        decision, reason = kind, exc.reason
    except StageError as exc:
        decision, reason = "fail", str(exc)
    return {
        "email_type": ctx.email_type,
        "subject": ctx.subject,
        "decision": decision,
        "reason": reason,
        "recipients": [
            {
                "address": r.address,
                "role": r.role,
                "rule": r.rule,
                "receives": decision == "send" and r.suppressed is None,
                "suppressed": r.suppressed,
            }
            for r in ctx.recipients
        ],
    }
