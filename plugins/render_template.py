"""``render-template``: turn a platform event into a message from its template."""

from __future__ import annotations

from typing import ClassVar

from gateway import mime
from gateway.context import Context
from gateway.errors import Reject
from gateway.pipeline import Services
from gateway.templating import TemplateError


class RenderTemplate:
    name: ClassVar[str] = "render-template"
    description: ClassVar[str] = (
        "Render an event's subject, HTML and text from the template of its email type"
    )

    def __init__(self, services: Services) -> None:
        self.templates = services.templates
        self.sender = services.config.sender

    async def process(self, ctx: Context) -> None:
        """Compose the message of an event; raw SMTP messages pass untouched."""
        event = ctx.event
        if event is None or ctx.message is not None:
            return
        if not self.templates.has(ctx.email_type):
            raise Reject(f"no template for email type {ctx.email_type!r}", field="type")
        variables = {
            "recipient": {
                "kind": event.recipient.kind,
                "id": event.recipient.id,
                "name": event.recipient.name,
                "email": event.recipient.email,
            },
            "event": {
                "id": event.id,
                "type": event.type,
                "occurred_at": event.occurred_at.isoformat(),
            },
            "data": event.data,
        }
        try:
            rendered = self.templates.render(ctx.email_type, variables)
        except TemplateError as exc:
            raise Reject(str(exc), field="data") from exc
        ctx.subject = rendered.subject
        ctx.message = mime.compose(
            sender=mime.mailbox(self.sender.address, self.sender.name),
            to=[mime.mailbox(event.recipient.email, event.recipient.name)],
            subject=rendered.subject,
            text=rendered.text,
            html=rendered.html,
            message_id=f"<{ctx.run_id}@{ctx.mail_from.rpartition('@')[2] or 'localhost'}>",
        )
