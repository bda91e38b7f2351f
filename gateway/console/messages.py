"""Each message of a run, from the run's page: the message queued for one
recipient with its HTML in a sandboxed frame, its text part, its headers,
its attachments, and the raw ``.eml`` to download.

The bytes are the store's (``item_message``): the message as Herald queued
it, before the DKIM signature that each delivery attempt adds on the way
out. A platform event's message is composed at its first attempt and the
retention rules prune bodies, so a message may have no bytes; the page
says why. The HTML is a document of its own under the template preview's
policy (``email_templates.preview_response``): no script, no request, in a
sandboxed frame.
"""

from __future__ import annotations

import base64
import email.policy
import re
from dataclasses import dataclass, field
from email.message import EmailMessage, Message
from email.parser import BytesParser

from aiohttp import web
from markupsafe import escape

from gateway.console import Console, console_of, error_page, render, requires
from gateway.console.email_templates import preview_response
from gateway.errors import NotFoundError
from gateway.store import ItemMessage

SCOPE = "runs:read"
# Ids longer than these are no run's or item's: refused before the store is asked.
LONGEST_RUN_ID = 100
LONGEST_ITEM_ID = 18
# An inline image a ``cid:`` reference may become, as a data: URL the frame may show.
_IMAGE_TYPE = re.compile(r"^image/[a-z0-9.+-]{1,40}$")


@dataclass(frozen=True)
class Attachment:
    name: str
    content_type: str
    size: int


@dataclass(frozen=True)
class Shown:
    """A message as the page shows it, read with the stdlib email parser."""

    headers: list[tuple[str, str]]
    subject: str
    html: str | None
    text: str | None
    attachments: list[Attachment] = field(default_factory=list)


def read(content: bytes) -> Shown:
    """The headers as they are written (unfolded), the HTML and text bodies
    a mail client would show, and the attachments by name, type and size."""
    message = BytesParser(policy=email.policy.default).parsebytes(content)
    assert isinstance(message, EmailMessage)  # the default policy makes one
    headers = [(name, " ".join(str(value).split())) for name, value in message.raw_items()]
    html = message.get_body(("html",))
    text = message.get_body(("plain",))
    attachments = []
    for part in message.iter_attachments():
        payload = part.get_payload(decode=True)
        attachments.append(
            Attachment(
                part.get_filename() or "(no name)",
                part.get_content_type(),
                len(payload) if isinstance(payload, bytes) else 0,
            )
        )
    return Shown(
        headers,
        _decoded_header(message, "Subject"),
        _inline_images(message, _text_of(html)) if html is not None else None,
        _text_of(text) if text is not None else None,
        attachments,
    )


def _decoded_header(message: Message, name: str) -> str:
    try:
        return str(message.get(name, ""))
    except (ValueError, TypeError, IndexError):
        # A header the parser cannot decode is shown as it is written.
        return str(message.get_all(name, [""])[0])


def _text_of(part: Message) -> str:
    """A text part's words, whatever its charset claims (RFC 2045 §5.2:
    an unknown charset is read as something the reader can show)."""
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    charset = part.get_content_charset() or "us-ascii"
    try:
        return payload.decode(charset, errors="replace")
    except LookupError:
        return payload.decode("utf-8", errors="replace")


def _inline_images(message: Message, html: str) -> str:
    """``html`` with each ``cid:`` reference (RFC 2392) to an image the
    message carries as a ``data:`` URL: only a mail client resolves cid:."""
    for part in message.walk():
        content_id = str(part.get("Content-ID", "")).strip().strip("<>")
        kind = part.get_content_type()
        payload = part.get_payload(decode=True)
        if not content_id or not _IMAGE_TYPE.match(kind) or not isinstance(payload, bytes):
            continue
        encoded = base64.b64encode(payload).decode()
        html = html.replace(f"cid:{content_id}", f"data:{kind};base64,{encoded}")
    return html


async def _message(request: web.Request) -> ItemMessage:
    run_id = request.match_info["run_id"]
    item_id = request.match_info["item_id"]
    if len(run_id) > LONGEST_RUN_ID or len(item_id) > LONGEST_ITEM_ID:
        raise NotFoundError(f"no item {item_id[:20]!r} of run {run_id[:20]!r}")
    return await console_of(request).api.store.item_message(run_id, int(item_id))


def _url(message: ItemMessage) -> str:
    return f"/runs/{message.run_id}/items/{message.item.id}"


@requires(SCOPE)
async def show(request: web.Request) -> web.StreamResponse:
    message = await _message(request)
    shown = read(message.content) if message.content is not None else None
    return render(
        request,
        "message.html",
        message=message,
        item=message.item,
        shown=shown,
        url=_url(message),
        size=len(message.content or b""),
    )


@requires(SCOPE)
async def download(request: web.Request) -> web.StreamResponse:
    message = await _message(request)
    if message.content is None:
        return error_page(request, 404, message.missing or "There is no message to download.")
    return web.Response(
        body=message.content,
        content_type="message/rfc822",
        headers={
            "Content-Disposition": f'attachment; filename="{_file_name(message)}"',
            "Cache-Control": "no-store",
        },
    )


def _file_name(message: ItemMessage) -> str:
    # Only letters, digits, "_" and "-": nothing a header or a file system reads otherwise.
    return re.sub(r"[^A-Za-z0-9_-]", "_", f"{message.run_id}-{message.item.id}") + ".eml"


@requires(SCOPE)
async def html_part(request: web.Request) -> web.StreamResponse:
    message = await _message(request)
    shown = read(message.content) if message.content is not None else None
    if shown is None or shown.html is None:
        note = message.missing or "This message has no HTML part; its text part is below."
        return preview_response(
            '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>No HTML</title>'
            f"</head><body><p>{escape(note)}</p></body></html>"
        )
    return preview_response(shown.html)


def routes(console: Console) -> list[web.RouteDef]:
    item = r"/runs/{run_id}/items/{item_id:\d+}"
    return [
        web.get(item, show),
        web.get(item + ".eml", download),
        web.get(item + "/html", html_part),
    ]
