"""Tests for plugins/substitute_tags.py: tags in raw SMTP messages that opt in."""

from __future__ import annotations

import asyncio
import email.policy
from collections.abc import AsyncIterator
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

import pytest
from herald_plugins.substitute_tags import SubstituteTags

from gateway import config
from gateway.context import Context
from gateway.entrance.pipeline import Services
from gateway.errors import Reject
from gateway.store import Store, open_store
from tests import stores


@pytest.fixture
async def stage(tmp_path: Path) -> AsyncIterator[SubstituteTags]:
    store: Store = open_store(stores.url_for(tmp_path))
    await store.open()
    cfg = config.load(None, env={"HERALD_STATE_DIR": str(tmp_path), "HERALD_HOSTNAME": "h.test"})
    yield SubstituteTags(Services.build(cfg, store).for_stages())
    await store.close()


def context(raw: str, email_type: str = "invoice.issued") -> Context:
    message = BytesParser(policy=email.policy.default).parsebytes(raw.encode())
    assert isinstance(message, EmailMessage)
    return Context(
        source="smtp", email_type=email_type, run_id="run_1", mail_from="a@b.test", message=message
    )


HEADERS = (
    "From: app@b.test\r\nTo: Rita <rita@b.test>\r\nX-Herald-Type: invoice.issued\r\n"
    'X-Herald-Data: {"invoice_number": "I-9", "amount": "3", "currency": "EUR"}\r\n'
)


async def test_message_without_an_account_passes_untouched(stage: SubstituteTags) -> None:
    """Mail that names no customer keeps its braces: substitution is opt-in."""
    ctx = context(HEADERS + "Subject: {{ x }}\r\n\r\n{{ y }}\r\n")
    await stage.process(ctx)
    assert ctx.message is not None
    assert ctx.message["Subject"] == "{{ x }}"


async def test_html_parts_escape_values_and_resellers_are_named(stage: SubstituteTags) -> None:
    """Values are HTML-escaped in HTML parts and kept as-is in text parts;
    X-Herald-Reseller makes the recipient a reseller."""
    ctx = context(
        HEADERS.replace("I-9", "<I-9>") + "X-Herald-Reseller: res_1\r\nSubject: S\r\n"
        'MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary="b"\r\n\r\n'
        "--b\r\nContent-Type: text/plain\r\n\r\n{{ data.invoice_number }} {{ recipient.kind }}\r\n"
        "--b\r\nContent-Type: text/html\r\n\r\n<p>{{ data.invoice_number }}</p>\r\n--b--\r\n"
    )
    await stage.process(ctx)
    assert isinstance(ctx.message, EmailMessage)
    text = ctx.message.get_body(("plain",))
    html = ctx.message.get_body(("html",))
    assert text is not None
    assert html is not None
    assert text.get_content().strip() == "<I-9> reseller"
    assert html.get_content().strip() == "<p>&lt;I-9&gt;</p>"


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ("X-Herald-Data: {nope\r\n", "X-Herald-Data is not valid JSON"),
        ("X-Herald-Data: [1]\r\n", "X-Herald-Data must be a JSON object"),
        ('X-Herald-Data: {"amount": "1", "currency": "EUR"}\r\n', "data.invoice_number"),
    ],
)
async def test_bad_tag_values_reject_the_message(
    stage: SubstituteTags, headers: str, reason: str
) -> None:
    """Malformed data or a missing required tag refuses the message with the reason."""
    ctx = context(
        "From: app@b.test\r\nTo: rita@b.test\r\nX-Herald-Customer: cus_1\r\n"
        f"{headers}Subject: Hi\r\n\r\nHi\r\n"
    )
    with pytest.raises(Reject, match=reason):
        await stage.process(ctx)


async def test_unknown_type_is_rejected_with_a_suggestion(stage: SubstituteTags) -> None:
    """A type outside the catalog cannot have its tags checked, so it is refused."""
    ctx = context(
        "To: rita@b.test\r\nX-Herald-Customer: cus_1\r\nSubject: x\r\n\r\nx\r\n",
        email_type="invoice.isued",
    )
    with pytest.raises(Reject, match=r"did you mean 'invoice\.issued'"):
        await stage.process(ctx)


DATA = 'X-Herald-Data: {"invoice_number": "I-9", "amount": "3", "currency": "EUR"}\r\n'


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("{{ " + "(" * 300 + "1" + ")" * 300 + " }}", "nests too deeply"),
        ("{{ recipient.name }}\r\n" * 6000, "more than 5000 tags and expressions"),
        ("{{ lipsum(10**5) }}", "larger than 1000000 characters"),
        ("{{ 'a'.ljust(10**9) }}", "asked str.ljust for more than 1000000"),
    ],
)
async def test_hostile_bodies_reject_the_message_permanently(
    stage: SubstituteTags, body: str, reason: str
) -> None:
    """A legacy body too deep or too complex to compile, or one that would
    build a huge text, refuses the message (SMTP 550) naming the limit,
    rather than failing the stage (451)."""
    ctx = context(
        "From: app@b.test\r\nTo: rita@b.test\r\nX-Herald-Customer: cus_1\r\n"
        f"{DATA}Subject: Hi\r\n\r\n{body}\r\n"
    )
    with pytest.raises(Reject, match=reason):
        await stage.process(ctx)


async def test_a_body_over_the_template_size_limit_is_refused(tmp_path: Path) -> None:
    """[templates] max_template_size bounds the legacy bodies rendered as templates."""
    path = tmp_path / "herald.toml"
    path.write_text("[templates]\nmax_template_size = 2000\n", encoding="utf-8")
    store: Store = open_store(stores.url_for(tmp_path))
    await store.open()
    try:
        cfg = config.load(path, env={"HERALD_STATE_DIR": str(tmp_path), "HERALD_HOSTNAME": "h"})
        stage = SubstituteTags(Services.build(cfg, store).for_stages())
        ctx = context(
            "From: app@b.test\r\nTo: rita@b.test\r\nX-Herald-Customer: cus_1\r\n"
            f"{DATA}Subject: Hi\r\n\r\n{'Hello there. ' * 200}\r\n"
        )
        with pytest.raises(Reject, match=r"characters long, over the limit of 2000"):
            await stage.process(ctx)
    finally:
        await store.close()


async def test_the_brand_layout_takes_the_body_of_any_markup_promptly(tmp_path: Path) -> None:
    """Markup of many unclosed <body> tags is wrapped in the brand layout
    within a generous bound (a backtracking search took minutes on it), and
    what is inside the first <body> is kept."""
    path = tmp_path / "herald.toml"
    path.write_text('[templates]\nbrand_layout = ["newsletter"]\n', encoding="utf-8")
    store: Store = open_store(stores.url_for(tmp_path))
    await store.open()
    try:
        cfg = config.load(path, env={"HERALD_STATE_DIR": str(tmp_path), "HERALD_HOSTNAME": "h"})
        stage = SubstituteTags(Services.build(cfg, store).for_stages())
        ctx = context(
            "From: app@b.test\r\nTo: rita@b.test\r\nSubject: News\r\nMIME-Version: 1.0\r\n"
            "Content-Type: text/html\r\n\r\n<body class=x><p>News of the day</p>"
            + "<body>" * 40000
            + "\r\n",
            email_type="newsletter",
        )
        await asyncio.wait_for(stage.process(ctx), 30)
    finally:
        await store.close()
    assert isinstance(ctx.message, EmailMessage)
    html = ctx.message.get_body(("html",))
    assert isinstance(html, EmailMessage)
    assert "News of the day</p>" in html.get_content()
