"""Tests for gateway/content/templating.py: rendering and validation; the sandbox's
limits are tested with gateway/content/_sandbox.py."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.config import SHIPPED_TEMPLATES
from gateway.content.catalog import Catalog
from gateway.content.templating import (
    InvalidTemplate,
    Limits,
    TemplateError,
    Templates,
)
from gateway.store import TemplateParts

CATALOG = Catalog.load(SHIPPED_TEMPLATES)
ENTRY = CATALOG.get("invoice.issued")
HINT = "did you mean data.invoice_number?"


@pytest.fixture
def templates() -> Templates:
    return Templates(SHIPPED_TEMPLATES, Limits(render_timeout=0.5, max_output=100_000))


def parts(
    subject: str = "Invoice {{ data.invoice_number }}", html: str = "<p>Hi</p>", text: str = "Hi"
) -> TemplateParts:
    return TemplateParts(subject=subject, html=html, text=text)


def render_one(templates: Templates, source: str, **data: Any) -> str:
    sample = ENTRY.sample()
    sample["data"] |= data
    return templates.render("invoice.issued", parts(text=source), sample).text


@pytest.mark.parametrize("email_type", Templates(SHIPPED_TEMPLATES).types())
def test_shipped_templates_pass_their_own_validation(templates: Templates, email_type: str) -> None:
    """Every shipped template uses only catalog tags and renders with the samples."""
    templates.check(CATALOG.get(email_type), templates.shipped(email_type))


def test_syntax_errors_name_the_part_and_line(templates: Templates) -> None:
    """A Jinja2 syntax error is reported with its file and line number."""
    with pytest.raises(InvalidTemplate) as caught:
        templates.check(ENTRY, parts(html="<p>\n{% if x %}\n</p>"))
    assert caught.value.errors[0][0] == "#/html"
    assert "body.html, line 3" in caught.value.errors[0][1]


def test_unknown_tags_get_a_did_you_mean(templates: Templates) -> None:
    """Every unknown tag is listed with its line and the closest catalog tag."""
    with pytest.raises(InvalidTemplate) as caught:
        templates.check(
            ENTRY,
            parts(subject="{{ data.invoice_numbr }}", text="{{ recipient.nmae }}\n{{ custmer }}"),
        )
    assert caught.value.errors == [
        ("#/subject", f"subject.txt, line 1: unknown tag data.invoice_numbr; {HINT}"),
        ("#/text", "body.txt, line 1: unknown tag recipient.nmae; did you mean recipient.name?"),
        ("#/text", "body.txt, line 2: unknown tag custmer"),
    ]


def test_faults_place_each_error_at_its_part_and_line(templates: Templates) -> None:
    """An editor gets each error's part and line, and no line for an error
    that names none (an empty body)."""
    with pytest.raises(InvalidTemplate) as caught:
        templates.check(
            ENTRY, parts(subject="{{ data.invoice_numbr }}", html=" ", text="a\n{{ x }}")
        )
    assert [(f.part, f.line) for f in caught.value.faults] == [
        ("subject", 1),
        ("text", 2),
        ("html", None),
    ]
    assert caught.value.faults[0].detail.endswith(HINT)
    with pytest.raises(InvalidTemplate) as caught:
        templates.check(ENTRY, parts(html="<p>\n{% if x %}\n</p>"))
    assert [(f.part, f.line) for f in caught.value.faults] == [("html", 3)]


def test_tags_are_found_in_every_spelling(templates: Templates) -> None:
    """data.x, data["x"] and data.get("x") all name the tag data.x."""
    tree = templates.env.parse(
        '{{ data.a }}{{ data["b"] }}{{ data.get("c") }}{% set d = 1 %}{{ d }}'
    )
    assert [tag for tag, _ in templates.tags(tree)] == ["data.a", "data.b", "data.c"]


def test_missing_value_names_the_tag(templates: Templates) -> None:
    """StrictUndefined: a tag without a value fails the render, naming it."""
    variables = ENTRY.sample()
    del variables["data"]["invoice_number"]
    with pytest.raises(TemplateError, match=r"the tag data.invoice_number has no value"):
        templates.render("invoice.issued", parts(), variables)


def test_html_is_autoescaped_and_text_is_not(templates: Templates) -> None:
    """A value with markup is escaped in HTML only."""
    variables = ENTRY.sample()
    variables["data"]["invoice_number"] = "<b>&</b>"
    rendered = templates.render(
        "invoice.issued",
        parts(html="{{ data.invoice_number }}", text="{{ data.invoice_number }}"),
        variables,
    )
    assert rendered.html == "&lt;b&gt;&amp;&lt;/b&gt;"
    assert rendered.text == "<b>&</b>"
