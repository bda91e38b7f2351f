"""Tests for gateway/console/definitions.py: what a posted definition form
becomes, where each validation error is shown, and the preview's HTML."""

from __future__ import annotations

import pytest

from gateway.billing.batches import Draft
from gateway.brand import LOGO_CID, Logo
from gateway.console.definitions import document, errors_at_fields, form_of, posted, viewable
from gateway.content import mime
from gateway.content.templating import InvalidTemplate
from gateway.errors import InvalidInput
from gateway.store import Definition, Schedule

FORM = {
    "csrf": "x",
    "name": "monthly-invoice",
    "from_key": " billing ",
    "recipient_key": "invoice",
    "clusters": "eu, us  nordics,",
    "attach": "pdf,csv",
    "zip": "on",
    "zip_name": "",
    "zip_password": "{{ customer.fields.vat_id }}",
    "subject": "Invoice {{ invoice.number }}",
    "text": "\r\nDear {{ customer.name }},\r\n",
    "html": "  \r\n",
    "schedule_cron": "0 6 1 * *",
    "schedule_timezone": "Europe/Amsterdam",
}


def test_a_posted_form_is_the_document_herald_definitions_apply_reads() -> None:
    """Lists split on commas and spaces, templates keep their text with LF
    line ends, an empty HTML, zip name or password is left out, and the
    cron and time zone make the schedule table."""
    assert document(posted(FORM)) == {
        "name": "monthly-invoice",
        "from_key": "billing",
        "recipient_key": "invoice",
        "clusters": ["eu", "us", "nordics"],
        "attach": ["pdf", "csv"],
        "zip": True,
        "zip_password": "{{ customer.fields.vat_id }}",
        "subject": "Invoice {{ invoice.number }}",
        "text": "\nDear {{ customer.name }},\n",
        "schedule": {"cron": "0 6 1 * *", "timezone": "Europe/Amsterdam"},
    }


def test_no_cron_and_utc_means_no_schedule_and_a_time_zone_alone_is_checked() -> None:
    """Without a cron and with the default time zone the definition runs by
    hand; a time zone without a cron is passed on, so validation says so."""
    plain = {**FORM, "schedule_cron": "", "schedule_timezone": "UTC", "zip": ""}
    assert "schedule" not in document(posted(plain))
    assert document(posted(plain))["zip"] is False
    zoned = {**plain, "schedule_timezone": "Europe/Paris"}
    assert document(posted(zoned))["schedule"] == {"cron": "", "timezone": "Europe/Paris"}


def test_an_overlong_field_is_refused_by_name() -> None:
    with pytest.raises(InvalidInput) as caught:
        posted({**FORM, "clusters": "x" * 2001})
    assert caught.value.field == "#/clusters"


def test_a_saved_definition_fills_the_form_it_would_be_posted_from() -> None:
    """The form of a definition, posted back, is the same definition."""
    definition = Definition(
        name="monthly-invoice",
        from_key="billing",
        recipient_key="invoice",
        clusters=("eu", "us"),
        subject="Invoice",
        text="Dear {{ customer.name }}",
        attach=("pdf",),
        zip=True,
        zip_name="a.zip",
        zip_password="{{ customer.id }}",
        schedule=Schedule("0 6 1 * *", "Europe/Amsterdam"),
    )
    data = document(posted({**form_of(definition), "csrf": "x"}))
    assert data["clusters"] == ["eu", "us"]
    assert data["schedule"] == {"cron": "0 6 1 * *", "timezone": "Europe/Amsterdam"}
    assert (data["zip_name"], data["zip_password"]) == ("a.zip", "{{ customer.id }}")
    assert "html" not in data


def test_each_error_stands_at_its_field() -> None:
    """Nested pointers name their form field; a template's several faults
    stand together at its field, each with its line."""
    assert errors_at_fields(InvalidInput("#/schedule/cron", "bad cron")) == {
        "schedule_cron": "bad cron"
    }
    assert errors_at_fields(InvalidInput("#/clusters/2", "bad name")) == {"clusters": "bad name"}
    assert errors_at_fields(InvalidInput("#/schedule", "not a table")) == {
        "schedule_cron": "not a table"
    }
    assert errors_at_fields(InvalidInput("#/colour", "is not a key")) == {"_form": "is not a key"}
    error = InvalidTemplate(
        [
            ("#/text", "d/body.txt, line 2: unknown tag customer.nam; did you mean customer.name?"),
            ("#/text", "d/body.txt, line 5: unknown tag invoce"),
            ("#/subject", "d/subject.txt, line 1: unexpected '}'"),
        ]
    )
    assert errors_at_fields(error) == {
        "text": "d/body.txt, line 2: unknown tag customer.nam; did you mean customer.name?"
        " · d/body.txt, line 5: unknown tag invoce",
        "subject": "d/subject.txt, line 1: unexpected '}'",
    }


def _draft(html: str | None, logo: Logo | None = None) -> Draft:
    message = mime.compose(
        sender=mime.mailbox("billing@herald.test", "Billing"),
        to=[mime.mailbox("a@herald.test", "A")],
        subject="Hi",
        text="Dear <A>",
        html=html,
        message_id="<m@herald.test>",
        attachments=[],
        logo=logo,
    )
    return Draft(message, "<m@herald.test>", "Hi", [])


def test_the_preview_shows_inline_images_and_escapes_a_text_only_message() -> None:
    """A cid: reference becomes a data: URL of its part; a message without
    HTML shows its text, escaped."""
    logo = Logo(b"\x89PNG-logo", "png", "logo.png")
    shown = viewable(_draft(f'<p><img src="cid:{LOGO_CID}"></p>', logo))
    assert "cid:" not in shown
    assert 'src="data:image/png;base64,iVBORy1sb2dv"' in shown
    assert "<pre>Dear &lt;A&gt;" in viewable(_draft(None))
