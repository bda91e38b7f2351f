"""Tests for gateway/content/composer.py: every shipped template as a parsed MIME message,
edits with versions, rollback and reset, and the brand in force."""

from __future__ import annotations

import base64
import re
from collections.abc import AsyncIterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest

from gateway import config
from gateway.content import mime
from gateway.content.composer import Composed, Composer
from gateway.content.templating import InvalidTemplate, Templates
from gateway.errors import InvalidInput, NotFoundError
from gateway.store import Store, TemplateParts, open_store
from tests import stores

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
TYPES = Templates(config.SHIPPED_TEMPLATES).types()


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    opened = open_store(stores.url_for(tmp_path))
    await opened.open()
    yield opened
    await opened.close()


@pytest.fixture
def composer(tmp_path: Path, store: Store) -> Composer:
    path = tmp_path / "herald.toml"
    path.write_text(
        f'[brand]\nname = "Acme Cloud"\nlogo_file = "{FIXTURES / "logo.png"}"\n'
        'support_email = "help@acme.test"\nprimary_color = "#ff6600"\n',
        encoding="utf-8",
    )
    cfg = config.load(path, env={"HERALD_STATE_DIR": str(tmp_path), "HERALD_HOSTNAME": "h.test"})
    return Composer.for_config(cfg, store)


def parsed(message: mime.Message) -> EmailMessage:
    """The message as a receiver parses it from the wire."""
    result = message_from_bytes(mime.to_bytes(message), policy=policy.default)
    assert isinstance(result, EmailMessage)
    return result


@pytest.mark.parametrize("email_type", TYPES)
async def test_every_shipped_template_makes_a_branded_mime_message(
    composer: Composer, email_type: str
) -> None:
    """With the catalog's samples: the logo inline by cid, styles inlined, a text
    part, the brand applied, and no unrendered tag anywhere."""
    message = parsed((await composer.preview(email_type)).message)

    assert message.get_content_type() == "multipart/alternative"
    text, related = message.iter_parts()
    assert text.get_content_type() == "text/plain"
    assert related.get_content_type() == "multipart/related"
    html_part, logo = related.iter_parts()
    html = html_part.get_content()
    assert logo.get_content_type() == "image/png"
    assert logo["Content-ID"] == "<logo@herald>"
    assert logo.get_content() == (FIXTURES / "logo.png").read_bytes()
    assert 'src="cid:logo@herald"' in html
    # css-inline copied the stylesheet into style attributes; only @media stays.
    assert re.search(r'<td class="header"[^>]*style="[^"]*#ff6600', html)
    assert ".content p {" not in html
    assert "Acme Cloud" in html
    assert "Acme Cloud" in text.get_content()
    for part in (message["Subject"], html, text.get_content()):
        assert "{{" not in part
        assert "{%" not in part
        assert "}}" not in part


async def test_text_part_is_derived_when_the_template_has_none(composer: Composer) -> None:
    """An edited template without a text part still sends plain text, made from the HTML."""
    await composer.save(
        "account.created",
        html='{% extends "_layout.html" %}{% block content %}<p>Hello <b>{{ recipient.name }}'
        "</b></p>{% endblock %}",
        text="",
    )
    composed = await composer.preview("account.created")
    text = parsed(composed.message).get_body(("plain",))
    assert text is not None
    assert "Hello Ada Lovelace" in text.get_content()
    assert "<b>" not in text.get_content()


async def test_invalid_template_is_refused_and_nothing_is_saved(composer: Composer) -> None:
    """A syntax error and an unknown tag are both reported; no version is kept."""
    with pytest.raises(InvalidTemplate) as caught:
        await composer.save(
            "invoice.issued", subject="Invoice {{ data.invoice_numbr }}", html="{% if %}"
        )
    details = dict(caught.value.errors)
    assert "did you mean data.invoice_number?" in details["#/subject"]
    assert details["#/html"].startswith("body.html, line 1:")
    assert await composer.history("invoice.issued") == []
    _, version = await composer.parts("invoice.issued")
    assert version is None


async def test_a_template_failing_its_trial_render_is_refused(composer: Composer) -> None:
    """A template that breaks on the catalog's samples is refused with the render's error."""
    with pytest.raises(InvalidTemplate, match="has no attribute 'missing'"):
        await composer.save("invoice.issued", text="{{ data.lines.missing }}")
    assert await composer.history("invoice.issued") == []


async def test_versions_roll_back_and_reset(composer: Composer) -> None:
    """Each save is a version; a rollback brings an old one back as a new version;
    a reset restores the shipped default while keeping the history."""
    shipped, _ = await composer.parts("invoice.issued")
    first = await composer.save("invoice.issued", subject="First {{ data.invoice_number }}")
    second = await composer.save("invoice.issued", subject="Second {{ data.invoice_number }}")
    assert (first.version, second.version) == (1, 2)
    assert (await composer.preview("invoice.issued")).subject == "Second INV-2026-0042"

    back = await composer.rollback("invoice.issued", 1)
    assert back.version == 3
    assert back.action == "rollback"
    assert (await composer.preview("invoice.issued")).subject == "First INV-2026-0042"

    await composer.reset("invoice.issued")
    parts, version = await composer.parts("invoice.issued")
    assert (parts, version) == (shipped, None)
    history = await composer.history("invoice.issued")
    assert [(v.version, v.action) for v in history] == [
        (4, "reset"),
        (3, "rollback"),
        (2, "save"),
        (1, "save"),
    ]
    with pytest.raises(NotFoundError):
        await composer.rollback("invoice.issued", 9)


async def test_partial_save_keeps_the_other_parts(composer: Composer) -> None:
    """Setting only the subject keeps the HTML and text in force."""
    shipped, _ = await composer.parts("system.alert")
    await composer.save("system.alert", subject="Alert: {{ data.title }}")
    parts, version = await composer.parts("system.alert")
    assert version == 1
    assert parts.html == shipped.html
    assert parts.text == shipped.text


async def test_saved_brand_wins_over_the_configured_one(composer: Composer) -> None:
    """Brand values saved in the store apply to the next message; unset restores the default."""
    await composer.update_brand({"name": "Globex", "footer": "Globex Ltd, 1 Main St"}, actor="test")
    message = parsed((await composer.preview("account.created")).message)
    html = message.get_body(("html",))
    assert html is not None
    assert "Globex Ltd, 1 Main St" in html.get_content()
    assert "Globex" in str(message["Subject"])
    await composer.update_brand({"name": None}, actor="test")
    assert (await composer.brand())["name"] == "Acme Cloud"


@pytest.mark.parametrize(
    ("changes", "pointer"),
    [
        ({"primary_color": "red; background: url(x)"}, "#/primary_color"),
        ({"name": "Acme\r\nBcc: x@y.test"}, "#/name"),
        ({"links": [{"label": "x", "url": "javascript:alert(1)"}]}, "#/links/0/url"),
        ({"colour": "#fff"}, "#/colour"),
    ],
)
async def test_bad_brand_values_are_refused(
    composer: Composer, changes: dict[str, object], pointer: str
) -> None:
    """Colours cannot carry CSS, names cannot break headers, links must be http(s)."""
    with pytest.raises(InvalidInput) as caught:
        await composer.update_brand(changes, actor="test")
    assert caught.value.field == pointer
    assert await composer.store.read_settings("brand") == {}


async def test_supplied_data_replaces_the_samples_and_is_checked(composer: Composer) -> None:
    """Admin-supplied data is used as given; a missing required tag is named."""
    supplied = {"data": {"invoice_number": "X-1", "amount": "5.00", "currency": "eur"}}
    assert (await composer.preview("invoice.issued", supplied)).subject == (
        "Invoice X-1 from Acme Cloud: 5.00 EUR"
    )
    with pytest.raises(InvalidInput) as caught:
        await composer.preview("invoice.issued", {"data": {"amount": "5.00"}})
    assert caught.value.field == "#/data/invoice_number"


async def test_saved_logo_replaces_the_configured_one(composer: Composer) -> None:
    """A logo saved in the store travels inline instead of [brand] logo_file;
    forgetting it brings the configured one back; a non-image is refused."""
    gif = b"GIF89a\x01\x00\x01\x00\x00\x00\x00;"
    await composer.update_logo(gif, "new.gif", actor="test")
    message = parsed((await composer.preview("account.created")).message)
    images = [part for part in message.walk() if part.get_content_maintype() == "image"]
    assert [(image.get_content_type(), image.get_content()) for image in images] == [
        ("image/gif", gif)
    ]
    with pytest.raises(InvalidInput, match="PNG, JPEG, GIF or WebP"):
        await composer.update_logo(b"<svg/>", actor="test")
    await composer.update_logo(None, actor="test")
    _, logo = await composer.brand_and_logo()
    assert logo is not None
    assert logo.subtype == "png"
    assert await composer.store.read_settings("brand/logo") == {}


HIDDEN_BREAK = "=?utf-8?q?=0D=0ABcc:_evil@evil.example?="


async def test_a_subject_hiding_a_break_is_refused_when_saved(composer: Composer) -> None:
    """A subject whose trial message the queue would refuse fails every email of
    its type: it is refused at once, naming the subject, and nothing is saved."""
    with pytest.raises(InvalidTemplate, match="the Subject header must not contain") as caught:
        await composer.save("invoice.issued", subject=f"Invoice {HIDDEN_BREAK}")
    assert [pointer for pointer, _ in caught.value.errors] == ["#/subject"]
    assert await composer.history("invoice.issued") == []


async def test_rolling_back_to_an_unsafe_version_is_refused(composer: Composer) -> None:
    """A version kept from before the check cannot be brought back."""
    shipped, _ = await composer.parts("account.created")
    unsafe = TemplateParts(subject=f"Welcome {HIDDEN_BREAK}", html=shipped.html, text="")
    old = await composer.store.add_template_version("account.created", "save", unsafe)
    with pytest.raises(InvalidTemplate, match="Subject header") as caught:
        await composer.rollback("account.created", old.version)
    assert caught.value.field == "#/subject"
    assert len(await composer.history("account.created")) == 1


async def test_a_preview_with_a_hostile_recipient_is_refused_not_crashed(
    composer: Composer,
) -> None:
    """Supplied event values that would break the To header get InvalidInput."""
    with pytest.raises(InvalidInput, match="the To header must not contain") as caught:
        await composer.preview("account.created", {"recipient": {"name": HIDDEN_BREAK}})
    assert caught.value.field == "#/event"


async def test_a_change_saved_by_another_process_applies_to_the_next_compose(
    tmp_path: Path, composer: Composer
) -> None:
    """The composer keeps the template and brand it read; a template version
    or a brand saved through another connection to the store (another
    process, another node) is in force at the very next compose."""
    url = stores.url_for(tmp_path / "shared")
    here, other = open_store(url), open_store(url)
    await here.open()
    await other.open()
    try:
        composing = Composer(composer.config, here, composer.templates, composer.catalog)
        elsewhere = Composer(composer.config, other, composer.templates, composer.catalog)
        to = [mime.mailbox("ada@example.com")]
        variables = composing.sample("account.created")

        async def compose() -> Composed:
            return await composing.compose("account.created", variables, to=to, message_id="<h>")

        first = await compose()
        assert first.version is None
        await elsewhere.save("account.created", subject="Saved elsewhere {{ recipient.name }}")
        second = await compose()
        assert (second.subject, second.version) == ("Saved elsewhere Ada Lovelace", 1)
        await other.write_setting("brand", {"name": "Renamed Brand"}, actor="test")
        assert "Renamed Brand" in (await compose()).html
        await elsewhere.reset("account.created")
        fourth = await compose()
        assert fourth.version is None
        assert fourth.subject == first.subject.replace("Acme Cloud", "Renamed Brand")
    finally:
        await here.close()
        await other.close()


async def test_edits_name_their_editor_in_the_versions_and_the_audit_log(
    composer: Composer,
) -> None:
    """Save, rollback and reset keep who made them, on the version and in the
    audit log, and the summaries show the newest version and its editor."""
    await composer.save("account.created", subject="Hello {{ recipient.name }}", actor="ada")
    await composer.save("account.created", subject="Hi {{ recipient.name }}", actor="bob")
    await composer.rollback("account.created", 1, actor="cy")
    await composer.reset("account.created", actor="dee")

    history = await composer.history("account.created")
    assert [(v.version, v.action, v.actor) for v in history] == [
        (4, "reset", "dee"),
        (3, "rollback", "cy"),
        (2, "save", "bob"),
        (1, "save", "ada"),
    ]
    audit = await composer.store.list_audit(setting="templates")
    assert [(e.actor, e.setting, e.old, e.new) for e in audit][:2] == [
        (
            "dee",
            "templates/account.created",
            {"version": 3},
            {"version": 4, "action": "reset", "note": "reset to default"},
        ),
        (
            "cy",
            "templates/account.created",
            {"version": 2},
            {"version": 3, "action": "rollback", "note": "rollback to version 1"},
        ),
    ]
    assert audit[-1].old is None
    summaries = {s.entry.name: s for s in await composer.summaries()}
    assert set(summaries) == set(composer.catalog.names())
    edited = summaries["account.created"]
    assert edited.latest is not None
    assert (edited.version, edited.latest.version, edited.latest.actor) == (None, 4, "dee")
    assert summaries["invoice.issued"].latest is None
    await composer.rollback("account.created", 2, actor="eve")
    assert {s.entry.name: s for s in await composer.summaries()}["account.created"].version == 5


async def test_compare_shows_what_a_version_changed_part_by_part(composer: Composer) -> None:
    """A version is compared with the one before it (the shipped default for
    the first, and for a reset), as line-numbered hunks."""
    shipped, _ = await composer.parts("account.created")
    await composer.save("account.created", subject="Hello {{ recipient.name }}", actor="ada")
    await composer.reset("account.created")

    first = {diff.part: diff for diff in await composer.compare("account.created", 1)}
    assert not first["html"].changed
    assert not first["text"].changed
    subject = first["subject"]
    assert [(line.kind, line.text) for line in subject.lines] == [
        ("hunk", "@@ -1 +1 @@"),
        ("removed", shipped.subject.rstrip("\n")),
        ("added", "Hello {{ recipient.name }}"),
    ]
    assert subject.unified().splitlines()[:2] == [
        "--- subject (the shipped default)",
        "+++ subject (version 1)",
    ]
    back = {diff.part: diff for diff in await composer.compare("account.created", 2)}
    assert [line.kind for line in back["subject"].lines] == ["hunk", "removed", "added"]
    assert back["subject"].lines[1].text == "Hello {{ recipient.name }}"
    with pytest.raises(NotFoundError):
        await composer.compare("account.created", 9)


async def test_a_brand_preview_wears_the_proposed_brand_and_saves_nothing(
    composer: Composer,
) -> None:
    """Proposed colours, footer and logo show in a sample email, checked as a
    save checks them; the saved brand is untouched."""
    gif = b"GIF89a\x01\x00\x01\x00\x00\x00\x00;"
    composed = await composer.preview_brand(
        {"primary_color": "#123456", "footer": "Acme & Co, 1 Main St"}, gif, "new.gif"
    )
    message = parsed(composed.message)
    html = message.get_body(("html",))
    assert html is not None
    assert "#123456" in html.get_content()
    assert "Acme &amp; Co, 1 Main St" in html.get_content()
    images = [
        part.get_content() for part in message.walk() if part.get_content_maintype() == "image"
    ]
    assert images == [gif]
    assert await composer.store.read_settings("brand") == {}
    with pytest.raises(InvalidInput) as caught:
        await composer.preview_brand({"primary_color": "red; background: url(x)"})
    assert caught.value.field == "#/primary_color"
    with pytest.raises(InvalidInput) as caught:
        await composer.preview_brand(logo=b"<svg onload=alert(1)/>")
    assert caught.value.field == "#/logo"


async def test_viewable_html_carries_the_logo_as_a_data_url(composer: Composer) -> None:
    """A browser cannot resolve cid:, so the previewed HTML holds the logo's bytes."""
    composed = await composer.preview("account.created")
    assert "cid:logo@herald" in composed.html
    viewable = composed.viewable_html()
    assert "cid:logo@herald" not in viewable
    found = re.search(r'src="data:image/png;base64,([^"]+)"', viewable)
    assert found is not None
    assert base64.b64decode(found[1]) == (FIXTURES / "logo.png").read_bytes()
