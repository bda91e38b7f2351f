"""``render-template``: turn a platform event into a branded message from its template."""

from __future__ import annotations

from typing import ClassVar

from gateway.content import mime
from gateway.content.composer import event_variables
from gateway.content.templating import TemplateError
from gateway.context import Context, Later
from gateway.entrance.pipeline import StageServices
from gateway.errors import InvalidInput, NotFoundError, Reject


class RenderTemplate:
    name: ClassVar[str] = "render-template"
    description: ClassVar[str] = (
        "Render an event's subject, HTML and text from the template of its email type"
    )

    # It describes the message in ``ctx.later`` when asked to compose later.
    later_aware: ClassVar[bool] = True

    def __init__(self, services: StageServices) -> None:
        self.composer = services.composer

    async def process(self, ctx: Context) -> None:
        """Compose the message of an event; raw SMTP messages pass untouched.

        An event lacking a required tag, or a template failing on the event's
        values, rejects the event with the tag named (HTTP 422)."""
        event = ctx.event
        if event is None or ctx.message is not None:
            return
        message_id = f"<{ctx.run_id}@{ctx.mail_from.rpartition('@')[2] or 'localhost'}>"
        try:
            self.composer.require(ctx.email_type, event.data)
            if ctx.compose_later:
                # What the sender can act on is checked now: the tags it must
                # send, a template for its type (a shipped one, else one saved
                # in the store) and the subject its data makes, as a header.
                # The body and the MIME follow the commit.
                variables = event_variables(event)
                ctx.subject = await self.composer.subject(ctx.email_type, variables)
                ctx.later = Later(
                    ctx.email_type,
                    variables,
                    to=[(event.recipient.email, event.recipient.name)],
                    message_id=message_id,
                )
                return
            composed = await self.composer.compose(
                ctx.email_type,
                event_variables(event),
                to=[mime.mailbox(event.recipient.email, event.recipient.name)],
                message_id=message_id,
            )
        except InvalidInput as exc:
            errors = exc.errors if len(exc.errors) > 1 else None
            raise Reject(str(exc), field=exc.field.removeprefix("#/"), errors=errors) from exc
        except NotFoundError as exc:
            raise Reject(str(exc), field="type") from exc
        except TemplateError as exc:
            raise Reject(str(exc), field="data") from exc
        ctx.subject = composed.subject
        ctx.message = composed.message
        if composed.version is not None:
            ctx.notes["template_version"] = composed.version
