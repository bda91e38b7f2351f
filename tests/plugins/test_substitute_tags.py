"""Tests for plugins/substitute_tags.py: tags in raw SMTP messages that opt in."""

from __future__ import annotations

import email.policy
from collections.abc import AsyncIterator
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

import pytest
from herald_plugins.substitute_tags import SubstituteTags

from gateway import config
from gateway.context import Context
from gateway.errors import Reject
from gateway.pipeline import Services
from gateway.store import Store, open_store
from tests import stores


@pytest.fixture
async def stage(tmp_path: Path) -> AsyncIterator[SubstituteTags]:
    store: Store = open_store(stores.url_for(tmp_path))
    await store.open()
    cfg = config.load(None, env={"HERALD_STATE_DIR": str(tmp_path), "HERALD_HOSTNAME": "h.test"})
    yield SubstituteTags(Services.build(cfg, store))
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
    assert ctx.message is not None
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
