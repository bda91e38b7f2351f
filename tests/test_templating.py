"""Tests for gateway/templating.py: rendering, validation, and the sandbox's limits."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.catalog import Catalog
from gateway.config import SHIPPED_TEMPLATES
from gateway.store import TemplateParts
from gateway.templating import (
    InvalidTemplate,
    Limits,
    TemplateError,
    TemplateLimitError,
    Templates,
)

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


@pytest.mark.parametrize(
    "source",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ '{0.__class__}'.format(data) }}",
        "{{ '{0.__class__}'.format_map({'0': data}) }}",
        "{{ ('{0.__class__}'|attr('format'))(data) }}",
        "{{ data.get.__globals__ }}",
        "{{ cycler.__init__.__globals__ }}",
    ],
)
def test_sandbox_escapes_fail_cleanly(templates: Templates, source: str) -> None:
    """Known routes out of the sandbox end in a TemplateError, never a leak or a crash."""
    with pytest.raises(TemplateError):
        render_one(templates, source)


@pytest.mark.parametrize(
    "source",
    [
        "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
        "{% set ns = namespace(n=0) %}{% for i in range(100000) %}{% for j in range(100000) %}"
        "{% set ns.n = ns.n + 1 %}{% endfor %}{% endfor %}",
    ],
)
def test_long_renders_stop_at_the_time_limit(templates: Templates, source: str) -> None:
    """A template that loops for ever stops with a clear error."""
    with pytest.raises(TemplateLimitError, match=r"ran longer than 0\.5s"):
        render_one(templates, source)


@pytest.mark.parametrize(
    "source",
    [
        "{% for i in range(100000) %}{{ 'x' * 100 }}{% endfor %}",
        "{{ 'x' * 1000000000 }}",
        "{{ ['x'] * 1000000000 }}",
        "{% set s = namespace(v='xxxxxxxxxx') %}{% for i in range(40) %}{% set s.v = s.v ~ s.v %}"
        "{% endfor %}",
        "{% set s = namespace(v='xxxxxxxxxx') %}{% for i in range(40) %}{% set s.v = s.v + s.v %}"
        "{% endfor %}",
        "{{ '%0999999999d' % 1 }}",
        "{{ '{:>999999999}'.format('x') }}",
        "{{ 'x'|center(999999999) }}",
        "{{ '%999999999s'|format('x') }}",
        "{{ 9 ** 999999999 }}",
    ],
)
def test_large_output_stops_at_the_size_limit(templates: Templates, source: str) -> None:
    """A template that grows too large stops before building the text."""
    with pytest.raises(TemplateLimitError):
        render_one(templates, source)


def test_limits_do_not_stop_ordinary_templates(templates: Templates) -> None:
    """Loops, concatenation and formatting within bounds render normally."""
    source = (
        "{% for line in data.lines %}{{ line.description ~ ': ' ~ '%5s' % line.amount }}\n"
        "{% endfor %}"
    )
    assert render_one(templates, source).splitlines() == [
        "Business plan, November 2026: 49.00",
        "Additional storage, 100 GB:  9.80",
    ]
