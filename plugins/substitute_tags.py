"""``substitute-tags``: the catalog's tags in legacy SMTP mail, and the brand layout.

A legacy app opts in with headers, which never leave Herald:

- ``X-Herald-Type: invoice.issued`` names the email type, whose catalog
  entry says which tags exist and which are required;
- ``X-Herald-Customer: cus_123`` (or ``X-Herald-Reseller: res_9``) names the
  account the message is for; only a message that names one has its tags
  substituted;
- ``X-Herald-Data: {"invoice_number": "INV-1", ...}`` carries the ``data.*``
  values as a JSON object (RFC 2047 encoded words are decoded first).

``recipient.email`` and ``recipient.name`` come from the first ``To``
address, ``brand.*`` from the brand in force. The subject and every text
and HTML body part are rendered in the same sandbox as templates (values are
HTML-escaped in HTML parts). An unknown tag, a missing required value or a
malformed X-Herald-Data refuses the message (SMTP 550) with the reason.

Email types listed in ``[templates] brand_layout`` are then wrapped in the
brand layout (header with the inline logo, footer, inlined CSS), keeping the
message's headers and attachments.
"""

from __future__ import annotations

import asyncio
import email.utils
import html
import re
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any, ClassVar

from gateway import json_input
from gateway.content import mime
from gateway.content._html_text import text_from_html
from gateway.content.catalog import EmailType
from gateway.content.templating import TemplateError
from gateway.context import Context
from gateway.entrance.pipeline import Rendering, StageServices
from gateway.errors import NotFoundError, Reject

CUSTOMER_HEADER = "X-Herald-Customer"
RESELLER_HEADER = "X-Herald-Reseller"
DATA_HEADER = "X-Herald-Data"

_BODY_START = re.compile(r"<body", re.IGNORECASE)
_BODY_END = re.compile(r"</body>", re.IGNORECASE)


class SubstituteTags:
    name: ClassVar[str] = "substitute-tags"
    description: ClassVar[str] = (
        "Substitute catalog tags in legacy SMTP mail that names its customer and type;"
        " wrap [templates] brand_layout types in the brand layout"
    )

    # It works on SMTP mail alone, which brings its message.
    later_aware: ClassVar[bool] = True

    def __init__(self, services: StageServices) -> None:
        self.composer: Rendering = services.composer
        self.layout_types = frozenset(services.config.brand_layout)

    async def process(self, ctx: Context) -> None:
        message = ctx.message
        # Only mail read from outside carries tags: what Herald wrote itself
        # (a Draft) was rendered from its template already.
        if ctx.source != "smtp" or not isinstance(message, EmailMessage):
            return
        account = _account(message)
        if account is None and ctx.email_type not in self.layout_types:
            return
        variables = self._variables(ctx, message, account)
        try:
            if account is not None:
                entry = self.composer.entry(ctx.email_type)
                self.composer.require(ctx.email_type, variables["data"])
                brand = await self.composer.brand()
                await self.composer.templates.run(
                    self._substitute, entry, message, {**variables, "brand": brand}
                )
                ctx.subject = str(message.get("Subject", ""))
            if ctx.email_type in self.layout_types:
                await self._wrap(message, variables)
        except NotFoundError as exc:
            raise Reject(str(exc), field="type") from exc
        except (TemplateError, ValueError) as exc:
            raise Reject(str(exc), field="data") from exc

    def _variables(
        self, ctx: Context, message: EmailMessage, account: tuple[str, str] | None
    ) -> dict[str, Any]:
        name, address = next(iter(email.utils.getaddresses(message.get_all("To", []))), ("", ""))
        data: Any = {}
        if account is not None and DATA_HEADER in message:
            try:
                data = json_input.loads(str(message[DATA_HEADER]), allow_nul=True)
            except ValueError as exc:
                raise Reject(f"{DATA_HEADER} is not valid JSON: {exc}", field="data") from exc
            if not isinstance(data, dict):
                raise Reject(f"{DATA_HEADER} must be a JSON object", field="data")
        kind, account_id = account or ("customer", "")
        return {
            "recipient": {"kind": kind, "id": account_id, "name": name, "email": address},
            "event": {
                "id": ctx.run_id,
                "type": ctx.email_type,
                "occurred_at": datetime.now(UTC).isoformat(timespec="seconds"),
            },
            "data": data,
        }

    def _substitute(
        self, entry: EmailType, message: EmailMessage, variables: dict[str, Any]
    ) -> None:
        templates = self.composer.templates
        texts: list[tuple[str, str, EmailMessage | None]] = [
            ("subject.txt", str(message.get("Subject", "")), None)
        ]
        for body in message.walk():
            if isinstance(body, EmailMessage) and _is_body(body):
                file = "body.html" if body.get_content_subtype() == "html" else "body.txt"
                texts.append((file, str(body.get_content()), body))
        errors = [
            detail
            for file, source, _ in texts
            for _, detail in templates.lint(entry, "#", file, source)
        ]
        if errors:
            raise Reject("; ".join(errors), field="data")
        values = templates.tag_values(variables)
        with templates.budget():
            for file, source, part in texts:
                result = templates.render_string(f"legacy/{file}", source, values)
                if part is None:
                    del message["Subject"]
                    message["Subject"] = " ".join(result.split())
                else:
                    part.set_content(result, subtype=part.get_content_subtype())

    async def _wrap(self, message: EmailMessage, variables: dict[str, Any]) -> None:
        # Reading a large body is CPU work too: a worker thread keeps the
        # listeners answering meanwhile.
        found = await asyncio.to_thread(_content, message)
        if found is None:
            return
        content, text = found
        branded_html, branded_text, logo = await self.composer.wrap(
            variables, html=content, text=text
        )
        mime.replace_body(message, text=branded_text, html=branded_html, logo=logo)


def _content(message: EmailMessage) -> tuple[str, str] | None:
    """What goes inside the brand layout: the HTML inside the message's
    <body> (or its text as paragraphs), and its text (or one derived from
    the HTML); None for a message with neither."""
    html_part = message.get_body(("html",))
    text_part = message.get_body(("plain",))
    if isinstance(html_part, EmailMessage):
        content = _inside_body(str(html_part.get_content()))
    elif isinstance(text_part, EmailMessage):
        lines = str(text_part.get_content()).splitlines()
        content = "<p>" + "<br>\n".join(html.escape(line) for line in lines) + "</p>"
    else:
        return None
    text = str(text_part.get_content()) if isinstance(text_part, EmailMessage) else ""
    return content, text or text_from_html(content)


def _inside_body(markup: str) -> str:
    """The markup between the first <body ...> and the last </body>, or all
    of it. Found by plain searches: a backtracking pattern over a body of
    many unclosed <body> tags takes time quadratic in its length."""
    opening = _BODY_START.search(markup)
    if opening is None:
        return markup
    start = markup.find(">", opening.end())
    end = max((match.start() for match in _BODY_END.finditer(markup, start)), default=-1)
    return markup[start + 1 : end] if start >= 0 and end >= 0 else markup


def _account(message: EmailMessage) -> tuple[str, str] | None:
    """("customer", id) or ("reseller", id) from the control headers, if named."""
    for header, kind in ((CUSTOMER_HEADER, "customer"), (RESELLER_HEADER, "reseller")):
        value = str(message.get(header, "")).strip()
        if value:
            return kind, value
    return None


def _is_body(part: EmailMessage) -> bool:
    return (
        part.get_content_maintype() == "text"
        and part.get_content_subtype() in ("plain", "html")
        and not part.is_attachment()
    )
