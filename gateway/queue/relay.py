"""Test sends: one message to one address, outside the queue, now.

``herald smtp test`` (``POST /v1/smtp/test``) and the template test sends
(``herald send-test``, ``POST /v1/templates/{type}/send-test``, the
console's Send Test Email) take this one
path: the router picks the way out the queue would take for the sender,
with any proposed changes to the settings, and the answer is a
``Diagnosis`` that names the step that failed and why.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

import structlog

from gateway.addresses import check_address, check_header_text
from gateway.config import Config
from gateway.content import mime
from gateway.content.composer import Composer
from gateway.content.mime import cleanup
from gateway.errors import InvalidInput, UnsafeHeader
from gateway.queue.diagnosis import Diagnosis, diagnose
from gateway.queue.routing import Router, RoutingStore
from gateway.store import Cleaned, new_id

log = structlog.get_logger(__name__)


async def send_test(
    store: RoutingStore,
    config: Config,
    content: Cleaned,
    *,
    mail_from: str,
    to: str,
    proposed: Mapping[str, Any] | None = None,
    upstream_required: bool = False,
) -> Diagnosis:
    """Hand ``content`` from ``mail_from`` to ``to`` the way the queue would
    now (or with ``proposed`` settings), and say what happened.

    With no upstream set the message goes to the capture, unless
    ``upstream_required``: then ``InvalidInput`` says so and nothing is sent.
    """
    router = Router(config, store)
    upstream = await router.upstream_for(mail_from, proposed)
    content = Cleaned(await router.signer.sign(content))
    signed = await router.signer.check(content)
    if upstream is not None:
        diagnosis = await diagnose(
            upstream, local_hostname=config.hostname, mail_from=mail_from, to=to, content=content
        )
    elif upstream_required:
        raise InvalidInput("#/host", "no upstream is set: save one or propose a host")
    else:
        capture = router.capture
        result = (await capture.send(mail_from, [to], content))[to]
        reply = result.reply or ""
        diagnosis = Diagnosis(
            "accepted",
            f"captured to {capture.directory}: {reply}",
            "data",
            capture.describe(),
            reply,
        )
    if signed is not None:
        diagnosis = dataclasses.replace(diagnosis, detail=f"{diagnosis.detail}; {signed}")
    log.info(
        "test_email_sent",
        to_domain=to.rpartition("@")[2],
        outcome=diagnosis.outcome,
        upstream=diagnosis.upstream,
    )
    return diagnosis


async def smtp_test(
    store: RoutingStore,
    config: Config,
    *,
    mail_from: Any,
    to: Any,
    subject: Any = "Herald test message",
    text: Any = "This is a test message from Herald.",
    proposed: Mapping[str, Any] | None = None,
) -> Diagnosis:
    """Send a plain test message through the upstream the relay would use for
    ``mail_from``, or with ``proposed`` changes to it, saved or not.

    Raises ``InvalidInput`` naming a bad field before anything is sent.
    """
    sender = _field("from", mail_from, check_address)
    recipient = _field("to", to, check_address)
    title = _field("subject", subject, check_header_text)
    if not isinstance(text, str):
        raise InvalidInput("#/text", "must be a string")
    message_id = f"<{new_id('test')}@{config.hostname}>"
    message = mime.compose(
        sender=mime.mailbox(sender),
        to=[mime.mailbox(recipient)],
        subject=title,
        text=text,
        html=None,
        message_id=message_id,
    )
    try:
        # Not queued, but held to the queue's rule all the same.
        content = cleanup(message, message_id=message_id)
    except UnsafeHeader as exc:
        raise InvalidInput("#/subject", exc.reason) from exc
    return await send_test(
        store,
        config,
        content,
        mail_from=sender,
        to=recipient,
        proposed=proposed,
        upstream_required=True,
    )


def _field(name: str, value: Any, check: Callable[[str, str], str]) -> str:
    if not isinstance(value, str) or not value:
        raise InvalidInput(f"#/{name}", "is required")
    try:
        return check(value, f"the {name} value")
    except ValueError as exc:
        raise InvalidInput(f"#/{name}", str(exc)) from exc


async def template_test(
    store: RoutingStore,
    composer: Composer,
    email_type: str,
    to: Any,
    supplied: Mapping[str, Any] | None = None,
) -> Diagnosis:
    """Send ``email_type`` as it would be sent, with the catalog's samples
    (over ``supplied``), to ``to`` from the default sender, and say what the
    way out answered. ``InvalidInput`` before anything is sent when ``to`` or
    the data is bad."""
    if not isinstance(to, str):
        raise InvalidInput("#/to", "must be an email address")
    content = await composer.test_message(email_type, to, supplied)
    config = composer.config
    return await send_test(store, config, content, mail_from=config.sender.address, to=to)
