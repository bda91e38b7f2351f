"""Tests for gateway/console/email_templates.py and brand.py: what a posted
form becomes, and where an error is shown."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.console.brand import changes_from, links_text, parse_links
from gateway.console.email_templates import Placed, draft_from, fault_document, place
from gateway.content.templating import InvalidTemplate
from gateway.errors import InvalidInput


def test_a_posted_draft_keeps_its_text_with_the_stores_line_endings() -> None:
    """CR LF from a textarea becomes LF; leading and trailing lines and spaces stay."""
    form = {"subject": " Hi\r\n", "html": "\r\n<p>a</p>\r\n\r\n", "csrf": "x"}
    assert draft_from(form) == {"subject": " Hi\n", "html": "\n<p>a</p>\n\n"}
    with pytest.raises(InvalidInput) as caught:
        draft_from({"text": "x" * 1_000_001})
    assert caught.value.field == "#/text"


def test_errors_are_placed_with_the_text_of_their_line() -> None:
    """A placed error carries its line's text; no text for a line out of
    range or an error that names no line; a field error is its own part."""
    error = InvalidTemplate(
        [
            ("#/html", "body.html, line 2: unknown tag x"),
            ("#/text", "body.txt, line 9: unknown tag y"),
            ("#/subject", "the subject must not be empty"),
        ]
    )
    draft = {"html": "<p>a</p>\n<p>{{ x }}</p>", "text": "one line"}
    assert place(error, draft) == [
        Placed("html", 2, "body.html, line 2: unknown tag x", "<p>{{ x }}</p>"),
        Placed("text", 9, "body.txt, line 9: unknown tag y", None),
        Placed("subject", None, "the subject must not be empty", None),
    ]
    assert place(InvalidInput("#/event", "bad"), draft) == [Placed("", None, "bad", None)]


def test_the_fault_document_escapes_what_it_reports() -> None:
    """A template's markup in an error is shown as text in the preview frame."""
    document = fault_document([Placed("html", 1, "unexpected '</p><script>'", None)])
    assert "<script>" not in document
    assert "&lt;/p&gt;&lt;script&gt;" in document


# Labels with inner spaces and letters beyond ASCII; cheap to draw.
LABELS = st.text("ab é1-", min_size=1, max_size=10).map(str.strip).filter(bool)
URLS = st.builds(
    "https://{}.example/{}".format,
    st.text("abc", min_size=1, max_size=8),
    st.text("xyz", max_size=5),
)


@given(st.lists(st.fixed_dictionaries({"label": LABELS, "url": URLS}), max_size=5))
def test_links_read_back_as_they_are_shown(links: list[dict[str, str]]) -> None:
    """The links field shows each link as a line and reads it back the same."""
    assert parse_links(links_text(links)) == links


def test_a_link_without_a_label_is_refused_at_its_line() -> None:
    assert parse_links("Status page  https://status.example\n\n") == [
        {"label": "Status page", "url": "https://status.example"}
    ]
    with pytest.raises(InvalidInput, match="line 2: give a label"):
        parse_links("Docs https://docs.example\nhttps://alone.example")


def test_only_changed_brand_values_are_saved() -> None:
    """Fields equal to the brand in force are no change, so saving the page
    as it is saves nothing over the configuration."""
    current = {"name": "Acme", "footer": "", "links": [], "primary_color": "#2563eb"}
    form = {"name": "Acme", "footer": " Acme & Co ", "links": "", "primary_color": "#2563eb"}
    assert changes_from(form, current) == {"footer": "Acme & Co"}
