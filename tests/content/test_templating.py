"""Tests for gateway/content/templating.py: rendering, validation, and the sandbox's limits."""

from __future__ import annotations

import json
import pprint
import tracemalloc
from typing import Any

import pytest

from gateway.config import SHIPPED_TEMPLATES
from gateway.content.catalog import Catalog
from gateway.content.templating import (
    InvalidTemplate,
    Limits,
    TemplateError,
    TemplateLimitError,
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


# Each would build a hundred million characters or more (a thousand times the
# fixture's limit) from a few characters of template, most in a single call.
AMPLIFIERS = [
    "{{ lipsum(10**4)|length }}",
    "{{ lipsum(1, max=10**6)|length }}",
    "{{ 'a'.ljust(10**8) }}",
    "{{ 'a'.zfill(10**8) }}",
    "{{ 'a'.center(10**8) }}",
    "{{ 'a'.encode() * 10**8 }}",
    "{{ 'a'.encode().rjust(10**8) }}",
    "{{ (1).to_bytes(10**8, 'big') }}",
    "{{ ('\t' * 1000).expandtabs(100000) }}",
    "{{ ('a' * 1000).translate({97: 'b' * 100000}) }}",
    "{{ ('a' * 1000).replace('a', 'b' * 100000) }}",
    "{{ ('a' * 1000).replace('', 'b' * 100000) }}",
    "{{ ('a' * 1000)|replace('a', 'b' * 100000) }}",
    "{{ ('\n' * 1000)|indent('x' * 100000) }}",
    "{{ 'x'|indent(10**8) }}",
    "{{ ('a ' * 1000)|wordwrap(1, wrapstring='x' * 100000) }}",
    "{{ ('a.com ' * 1000)|urlize(target='x' * 100000) }}",
    "{{ [1]|batch(10**7, 'x')|list|length }}",
    "{{ [1]|slice(10**6)|list|length }}",
    "{{ ([range(1000)|list] * 1000)|sum(start=[])|length }}",
    "{{ '{:>{w}}'.format('x', w=10**8) }}",
    "{{ '%*s' % (10**8, 'x') }}",
    "{{ '%*s'|format(10**8, 'x') }}",
    "{{ '%.100000000f' % 1 }}",
    # One long string referred to many times takes little memory until it is
    # turned into text.
    "{% set b = 'x' * 1000 %}{{ [b] * 100000 }}",
    "{% set b = 'x' * 1000 %}{{ ([b] * 100000)|join }}",
    "{% set b = 'x' * 1000 %}{{ ','.join([b] * 100000) }}",
    "{% set b = 'x' * 1000 %}{{ ([b] * 100000)|upper }}",
    "{% set b = 'x' * 1000 %}{{ ([b] * 100000) ~ '' }}",
    "{% set b = 'x' * 1000 %}{{ ([b] * 100000)|tojson }}",
    "{% set b = 'x' * 1000 %}{{ ([b] * 100000)|pprint }}",
    "{% set b = 'x' * 1000 %}{{ ([b] * 100000) is lower }}",
    "{% set b = 'x' * 1000 %}{{ '%s' % ([b] * 100000,) }}",
    "{% set b = 'x' * 1000 %}{{ '{!r}'.format([b] * 100000) }}",
    "{% set b = 'x' * 100000 %}{{ ('{0}' * 1000).format(b) }}",
    "{% set b = 'x' * 100000 %}{{ ('%s' * 1000) % ((b,) * 1000) }}",
    "{% set b = 'x' * 100000 %}{{ ('%(b)s' * 1000) % {'b': b} }}",
    "{% set ns = namespace(b='x' * 1000) %}{{ [ns] * 100000 }}",
    "{{ {'a': range(10000)|list}|tojson(indent=10000) }}",
    "{% macro m(x) %}" + "{{ x }}" * 1000 + "{% endmacro %}{{ m('x' * 100000) }}",
    # Doubling in a loop: each step is checked, not only the output.
    "{% set ns = namespace(v='x') %}{% for i in range(40) %}{% set ns.v %}{{ ns.v }}{{ ns.v }}"
    "{% endset %}{% endfor %}",
    "{% set ns = namespace(l=['x']) %}{% for i in range(40) %}{{ ns.l.extend(ns.l) }}{% endfor %}",
    "{% set ns = namespace(v=10 ** 300) %}{% for i in range(20) %}{% set ns.v = ns.v * ns.v %}"
    "{% endfor %}",
]


@pytest.fixture
def patient() -> Templates:
    """A time limit no size check needs: a refusal must come from the size
    check, however loaded the machine is."""
    return Templates(SHIPPED_TEMPLATES, Limits(render_timeout=30, max_output=100_000))


@pytest.mark.parametrize("source", AMPLIFIERS)
def test_amplifying_calls_are_refused_before_the_work(patient: Templates, source: str) -> None:
    """A call, filter, operator or conversion that would build text far past
    the limit is refused by a size check before it builds it: the render's
    memory stays within a small multiple of the limit, and it is not left to
    run until the time limit."""
    tracemalloc.start()
    try:
        with pytest.raises(TemplateLimitError) as caught:
            render_one(patient, source)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert "ran longer" not in str(caught.value)
    assert str(caught.value).startswith("invoice.issued/body.txt: ")
    assert peak < 16 * 1024 * 1024


def test_bounded_calls_still_do_their_work(templates: Templates) -> None:
    """Formatting, joining, replacing, wrapping, printing and counting within
    bounds give what Jinja2 and Python give."""
    value = {"b": [1, "two"], "a": None}
    source = (
        "{{ '{:>6}|{}'.format('ab', 3) }};{{ '%-4s|%03d' % ('ab', 7) }};"
        "{{ '%s-%s'|format('a', 'b') }};{{ ['a', 'b']|join(', ') }};{{ '+'.join(['a', 'b']) }};"
        "{{ 'aXa'|replace('X', 'yy') }};{{ 'aXaX'.replace('X', 'y', 1) }};"
        "{{ 'a\tb'.expandtabs(4) }};{{ 'ab'.center(6, '*') }};{{ [1, 2, 3]|batch(2)|list }};"
        "{{ [1, 2, 3]|slice(2)|list }};{{ [1, 2, 3]|sum }};{{ lipsum(2, html=False)|length > 0 }}"
        "\n{{ 'one two three'|wordwrap(7) }}\n{{ 'a\nb'|indent(2, first=True) }}\n"
        "{{ data.value|tojson(indent=2) }}\n{{ data.value|pprint }}"
    )
    first, *wrapped = render_one(templates, source, value=value).split("\n")
    assert first.split(";") == [
        "{:>6}|{}".format("ab", 3),
        "ab  |007",
        "a-b",
        "a, b",
        "a+b",
        "ayya",
        "aXaX".replace("X", "y", 1),
        "a\tb".expandtabs(4),
        "ab".center(6, "*"),
        "[[1, 2], [3]]",
        "[[1, 2], [3]]",
        "6",
        "True",
    ]
    assert wrapped == [
        "one two",
        "three",
        "  a",
        "  b",
        *json.dumps(value, indent=2, sort_keys=True).splitlines(),
        *pprint.pformat(value).splitlines(),
    ]


LONG_SOURCE = "x" * 262_145


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        (LONG_SOURCE, "262145 characters long, over the limit of 262144"),
        ("{{ " + "(" * 300 + "1" + ")" * 300 + " }}", "nests too deeply"),
        ("{{ " + "-" * 2000 + "1 }}", "nests too deeply"),
        ("{{ " + "+".join(["1"] * 3000) + " }}", "line 1: the template nests too deeply"),
        ("{{ data" + ".a" * 1000 + " }}", "nests too deeply"),
        ("{{ data" + "|e" * 1000 + " }}", "nests too deeply"),
        ("{% for a in data %}" * 30 + "{% endfor %}" * 30, "nests too deeply"),
        ("{% if data %}" * 60 + "{% endif %}" * 60, "nests too deeply"),
        ("{{ data }}" * 6000, "more than 5000 tags and expressions"),
        ("{{ [" + ", ".join(["1"] * 6000) + "] }}", "more than 5000 tags and expressions"),
        ("{{ data }}" * 3000, "compiles to more than 150000 characters of code"),
    ],
)
def test_texts_too_long_deep_or_complex_are_refused_before_compiling(
    templates: Templates, source: str, reason: str
) -> None:
    """A template text that would take long to parse or compile, or would
    overflow the parser's recursion, is refused with the limit it passed,
    when rendered and when saved (naming the part)."""
    with pytest.raises(TemplateLimitError, match=reason):
        render_one(templates, source)
    with pytest.raises(InvalidTemplate) as caught:
        templates.check(ENTRY, parts(text=source))
    [(pointer, detail)] = caught.value.errors
    assert pointer == "#/text"
    assert "body.txt" in detail
    assert reason in detail


def test_a_template_cannot_rebind_the_guards(templates: Templates) -> None:
    """Setting variables named like Herald's loop and concatenation hooks does
    not turn off their checks: doubling a string with ``~`` still stops at the
    size limit, before it grows large."""
    source = (
        "{% set herald_loop = dict.fromkeys %}{% set herald_concat = ''.join %}"
        "{% set ns = namespace(v='x') %}{% for i in range(30) %}{% set ns.v = ns.v ~ ns.v %}"
        "{% endfor %}"
    )
    tracemalloc.start()
    try:
        with pytest.raises(TemplateLimitError, match="larger than 100000 characters"):
            render_one(templates, source)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 16 * 1024 * 1024


@pytest.mark.parametrize(
    "source",
    [
        "{% set d = {'a': 1} %}{% for k in d %}{{ d.update({k ~ 'x': 1}) }}{% endfor %}",
        "{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}",
    ],
)
def test_failures_of_template_code_are_template_errors(templates: Templates, source: str) -> None:
    """Whatever exception a template's own code raises on plain data, the
    render fails with a TemplateError naming the template."""
    with pytest.raises(TemplateError, match=r"^invoice\.issued/body\.txt: "):
        render_one(templates, source)
