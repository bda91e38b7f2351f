"""Tests for plugins/render_template.py: the ``render-template`` stage."""

from __future__ import annotations

import copy
import json
from collections.abc import AsyncIterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from herald_plugins.render_template import RenderTemplate

from gateway.config import SHIPPED_TEMPLATES
from gateway.content import mime
from gateway.content.templating import Templates
from gateway.context import Context
from gateway.errors import Reject, UnsafeHeader
from gateway.ingress.events import parse_event
from gateway.store import Store
from tests.plugins import make_services

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "events"
EVENT_FILES = sorted(FIXTURES.glob("*.json"))


# The stage reads the template in force from the store, so each test's store
# is opened, and closed again after the test.
_opened: list[Store] = []


async def make_stage(tmp_path: Path, toml: str = "") -> RenderTemplate:
    services = make_services(tmp_path, toml)
    await services.store.open()
    _opened.append(services.store)
    return RenderTemplate(services.for_stages())


@pytest.fixture(autouse=True)
async def close_stores() -> AsyncIterator[None]:
    yield
    while _opened:
        await _opened.pop().close()


def load_event(name: str) -> dict[str, Any]:
    body: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))
    return body


def event_context(body: dict[str, Any]) -> Context:
    event = parse_event(body)
    ctx = Context(
        source="webhook",
        email_type=event.type,
        run_id="run_0001",
        mail_from="herald@herald.test",
        event=event,
    )
    ctx.add_recipient(event.recipient.email, "to", "event.recipient (customer)")
    return ctx


def received(message: mime.Message) -> EmailMessage:
    """The message as a mail client parses it from the wire."""
    if isinstance(message, EmailMessage):
        return message
    return message.as_message()


def parts(message: mime.Message) -> dict[str, str]:
    return {part.get_content_type(): part.get_content() for part in received(message).iter_parts()}


def test_shipped_fixtures_cover_every_shipped_type(tmp_path: Path) -> None:
    """There is one sample event for each template folder Herald ships."""
    assert [p.stem for p in EVENT_FILES] == Templates(SHIPPED_TEMPLATES).types()


@pytest.mark.parametrize("path", EVENT_FILES, ids=lambda p: p.stem)
async def test_renders_every_shipped_type(tmp_path: Path, path: Path) -> None:
    """Each shipped type renders to multipart/alternative with text and HTML, fully expanded."""
    stage = await make_stage(tmp_path)
    ctx = event_context(load_event(path.stem))
    await stage.process(ctx)

    assert ctx.message is not None
    message = received(ctx.message)
    assert message.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in message.iter_parts()] == ["text/plain", "text/html"]
    rendered = parts(message)
    for text in (*rendered.values(), ctx.subject):
        assert "{{" not in text
        assert "{%" not in text
    assert rendered["text/plain"].strip()
    assert "<html" in rendered["text/html"].lower()
    assert ctx.subject
    assert message["Subject"] == ctx.subject
    assert "\n" not in ctx.subject
    assert message["To"] == "Ada Lovelace <ada@example.com>"
    assert message["From"] == "Herald <herald@herald.test>"
    assert message["Message-ID"] == "<run_0001@herald.test>"
    assert message["Date"]


async def test_event_data_reaches_every_part(tmp_path: Path) -> None:
    """The event's data appears in the subject, the text and the HTML."""
    stage = await make_stage(tmp_path)
    ctx = event_context(load_event("invoice.issued"))
    await stage.process(ctx)
    assert ctx.message is not None
    rendered = parts(ctx.message)
    assert "INV-2026-0042" in ctx.subject
    assert "INV-2026-0042" in rendered["text/plain"]
    assert "INV-2026-0042" in rendered["text/html"]
    assert "Ada Lovelace" in rendered["text/plain"]


async def test_brand_and_sender_come_from_the_configuration(tmp_path: Path) -> None:
    """[brand] name and [sender] shape the message."""
    stage = await make_stage(
        tmp_path,
        '[brand]\nname = "Acme Cloud"\n[sender]\naddress = "noreply@acme.example"\nname = "Acme"\n',
    )
    ctx = event_context(load_event("account.created"))
    await stage.process(ctx)
    assert ctx.message is not None
    assert ctx.message["From"] == "Acme <noreply@acme.example>"
    rendered = parts(ctx.message)
    assert "Acme Cloud" in rendered["text/plain"]
    assert "Acme Cloud" in rendered["text/html"]


async def test_html_part_escapes_event_data(tmp_path: Path) -> None:
    """Markup in event data is escaped in the HTML part and left as text in the text part."""
    stage = await make_stage(tmp_path)
    body = load_event("invoice.issued")
    body["data"]["invoice_number"] = "<script>alert(1)</script>"
    ctx = event_context(body)
    await stage.process(ctx)
    assert ctx.message is not None
    rendered = parts(ctx.message)
    assert "<script>" not in rendered["text/html"]
    assert "&lt;script&gt;" in rendered["text/html"]
    assert "<script>alert(1)</script>" in rendered["text/plain"]
    assert "&lt;" not in ctx.subject


async def test_rendering_leaves_recipients_alone(tmp_path: Path) -> None:
    """The stage composes the message but neither adds nor suppresses recipients."""
    stage = await make_stage(tmp_path)
    ctx = event_context(load_event("invoice.issued"))
    before = copy.deepcopy(ctx.recipients)
    await stage.process(ctx)
    assert ctx.recipients == before


@pytest.mark.parametrize("email_type", ["no.such.type", "../templates", "invoice.issued/.."])
async def test_unknown_type_is_rejected(tmp_path: Path, email_type: str) -> None:
    """An event type without a template folder is a Reject naming the field 'type'."""
    stage = await make_stage(tmp_path)
    ctx = event_context(load_event("account.created"))
    ctx.email_type = email_type
    with pytest.raises(Reject, match="no template for email type") as info:
        await stage.process(ctx)
    assert info.value.field == "type"
    assert ctx.message is None


async def test_missing_template_value_is_rejected_as_data(tmp_path: Path) -> None:
    """A template that needs a value the event's data lacks is a Reject naming 'data'."""
    folder = tmp_path / "templates" / "custom.notice"
    folder.mkdir(parents=True)
    (folder / "subject.txt").write_text("Hello {{ data.name }}", encoding="utf-8")
    (folder / "body.txt").write_text("Dear {{ data.name }}", encoding="utf-8")
    (folder / "body.html").write_text("<html><p>Dear {{ data.name }}</p></html>", encoding="utf-8")
    stage = await make_stage(tmp_path, f'[templates]\ndir = "{tmp_path / "templates"}"\n')

    body = load_event("account.created")
    body["type"] = "custom.notice"
    with pytest.raises(Reject, match="name") as info:
        await stage.process(event_context(body))
    assert info.value.field == "data"

    body["data"] = {"name": "Ada & Co"}
    ctx = event_context(body)
    await stage.process(ctx)
    assert ctx.subject == "Hello Ada & Co"
    assert ctx.message is not None
    assert "<p>Dear Ada &amp; Co</p>" in parts(ctx.message)["text/html"]


async def test_smtp_message_passes_untouched(tmp_path: Path) -> None:
    """A context from the SMTP listener (a message, no event) is left exactly as it was."""
    stage = await make_stage(tmp_path)
    message = EmailMessage()
    message["From"] = "app@example.com"
    message["To"] = "bob@example.com"
    message["Subject"] = "Legacy"
    message.set_content("Hello Bob")
    original = message.as_bytes()
    ctx = Context(
        source="smtp",
        email_type="legacy",
        run_id="run_0002",
        mail_from="app@example.com",
        message=message,
    )
    await stage.process(ctx)
    assert ctx.message is message
    assert message.as_bytes() == original
    assert ctx.subject == ""


async def test_existing_message_is_not_replaced(tmp_path: Path) -> None:
    """When an earlier stage already set a message, the event is not rendered over it."""
    stage = await make_stage(tmp_path)
    ctx = event_context(load_event("invoice.issued"))
    message = EmailMessage()
    message.set_content("already composed")
    ctx.message = message
    await stage.process(ctx)
    assert ctx.message is message
    assert ctx.subject == ""


def test_stage_identity() -> None:
    """The stage's name matches its module and its entry point."""
    assert RenderTemplate.name == "render-template"
    assert RenderTemplate.description


async def test_asked_to_compose_later_it_checks_now_and_describes_the_message(
    tmp_path: Path,
) -> None:
    """With compose_later set, an event of a known type leaves no message but a
    description of it; an unknown type is still refused before the answer."""
    stage = await make_stage(tmp_path)
    ctx = event_context(load_event("invoice.issued"))
    ctx.compose_later = True
    await stage.process(ctx)
    assert ctx.message is None
    assert ctx.later is not None
    assert ctx.later.email_type == "invoice.issued"
    assert ctx.later.to == [("ada@example.com", "Ada Lovelace")]
    assert ctx.later.message_id == "<run_0001@herald.test>"
    assert ctx.later.variables["data"]["invoice_number"] == "INV-2026-0042"
    unknown = event_context(load_event("account.created"))
    unknown.email_type = "no.such.type"
    unknown.compose_later = True
    with pytest.raises(Reject, match="no template for email type") as info:
        await stage.process(unknown)
    assert info.value.field == "type"
    assert unknown.later is None


async def test_asked_to_compose_later_it_renders_and_checks_the_subject_now(
    tmp_path: Path,
) -> None:
    """The subject is rendered before the answer, so the run shows it at once and a
    subject the event's data would break is refused then, with nothing described."""
    stage = await make_stage(tmp_path)
    ctx = event_context(load_event("invoice.issued"))
    ctx.compose_later = True
    await stage.process(ctx)
    assert "INV-2026-0042" in ctx.subject
    raw = copy.deepcopy(load_event("invoice.issued"))
    raw["data"]["invoice_number"] = "INV-1\x00X"
    broken = event_context(raw)
    broken.compose_later = True
    with pytest.raises(UnsafeHeader, match="the Subject header must not contain CR, LF or NUL"):
        await stage.process(broken)
    assert broken.later is None
