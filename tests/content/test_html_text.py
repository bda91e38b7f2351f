"""Tests for gateway/content/_html_text.py: the text part derived from an HTML body."""

from __future__ import annotations

from gateway.content._html_text import text_from_html


def test_blocks_become_paragraphs_and_hidden_content_is_dropped() -> None:
    """Paragraphs and headings are separated by blank lines; style and head vanish."""
    html = (
        "<html><head><title>T</title><style>p{color:red}</style></head><body>"
        "<h1>Welcome,  Ada</h1><p>Your\naccount is <b>ready</b>.</p></body></html>"
    )
    assert text_from_html(html) == "Welcome, Ada\n\nYour account is ready.\n"


def test_links_keep_their_address_and_list_items_their_dash() -> None:
    """A link's address follows its text unless the text already shows it."""
    html = (
        '<ul><li><a href="https://acme.test/pay">Pay now</a></li>'
        '<li><a href="https://acme.test">https://acme.test</a></li>'
        '<li><a href="mailto:help@acme.test">help@acme.test</a></li></ul>'
    )
    assert text_from_html(html) == (
        "- Pay now (https://acme.test/pay)\n\n- https://acme.test\n\n- help@acme.test\n"
    )


def test_entities_are_decoded_and_long_lines_wrapped() -> None:
    """Character references are decoded and paragraphs wrap at the given width."""
    text = text_from_html("<p>Fish &amp; chips " + "word " * 30 + "</p>", width=40)
    assert text.startswith("Fish & chips word")
    assert all(len(line) <= 40 for line in text.splitlines())


def test_line_breaks_split_lines() -> None:
    """A <br> ends a line, and table cells are kept apart by a space."""
    html = "<table><tr><td>Total</td><td>49.00 EUR</td></tr></table>Line one<br>Line two"
    assert text_from_html(html) == "Total 49.00 EUR\n\nLine one\n\nLine two\n"


def test_an_element_styled_display_none_is_left_out() -> None:
    """A preheader hidden with display: none, nested elements of its kind included,
    does not reach the text part; what follows its end tag does."""
    html = (
        '<div style="color: red; display:none !important"><div>pre</div>header</div>'
        '<p style="display: block">Shown</p><img style="display:none" src="x.png">After'
    )
    assert text_from_html(html) == "Shown\n\nAfter\n"
