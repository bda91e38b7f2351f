"""Message definitions: what a definition may say, and each mistake named."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from gateway.billing.definitions import definition, sample_customer, trial
from gateway.config import SHIPPED_TEMPLATES
from gateway.content.templating import Templates
from gateway.errors import InvalidInput

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "invoices" / "monthly-invoice.toml"
TEMPLATES = Templates(SHIPPED_TEMPLATES)


def example(**changes: Any) -> dict[str, Any]:
    data = tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))
    data.update(changes)
    return data


def test_the_example_definition_is_valid() -> None:
    """The worked example in the README parses into a zipped, scheduled definition."""
    found = definition(example(), TEMPLATES)
    assert (found.name, found.zip, found.attach) == ("monthly-invoice", True, ("pdf", "csv"))
    assert found.schedule is not None
    assert found.schedule.timezone == "Europe/Amsterdam"


@pytest.mark.parametrize(
    ("changes", "pointer"),
    [
        ({"clusters": []}, "#/clusters"),
        ({"subject": "{{ invoice.number "}, "#/subject"),
        ({"zip": False}, "#/zip_password"),
        ({"schedule": {"cron": "every monday", "timezone": "UTC"}}, "#/schedule/cron"),
        ({"schedule": {"cron": "0 6 * * *", "timezone": "Mars/Olympus"}}, "#/schedule/timezone"),
        ({"from_key": "Billing Dept"}, "#/from_key"),
        ({"recipients": "invoice"}, "#/recipients"),
    ],
)
def test_mistakes_are_named(changes: dict[str, Any], pointer: str) -> None:
    """Each invalid definition is refused with a pointer to its key."""
    with pytest.raises(InvalidInput) as refused:
        definition(example(**changes), TEMPLATES)
    assert refused.value.field == pointer


@pytest.mark.parametrize("key", ["subject", "zip_name"])
def test_a_template_hiding_a_break_in_an_encoded_word_is_refused(key: str) -> None:
    """A subject or zip name whose own text decodes to a line break would fail
    every message of every run: it is refused when the definition is applied."""
    text = "Invoice {{ invoice.number }} =?utf-8?q?=0D=0ABcc:_evil@evil.example?="
    with pytest.raises(InvalidInput, match="encoded word") as refused:
        definition(example(**{key: text}), TEMPLATES)
    assert refused.value.field == f"#/{key}"


@pytest.mark.parametrize(
    ("changes", "pointer", "said"),
    [
        (
            {"subject": "{{ brand.nme }}"},
            "#/subject",
            "line 1: unknown tag brand.nme; did you mean brand.name?",
        ),
        (
            {"text": "Hi\n{{ customer.fields.vat_id }} {{ recipent.email }}"},
            "#/text",
            "line 2: unknown tag recipent; did you mean recipient?",
        ),
        (
            {"html": '{% extends "_nothing.html" %}'},
            "#/html",
            "template _nothing.html is missing",
        ),
        ({"text": "{% for x in %}"}, "#/text", "monthly-invoice/body.txt, line 1:"),
    ],
)
def test_template_mistakes_are_named_with_their_line(
    changes: dict[str, Any], pointer: str, said: str
) -> None:
    """Tags a definition's templates cannot see, missing layouts and syntax
    errors are named with the part, the line and a suggestion."""
    with pytest.raises(InvalidInput) as refused:
        definition(example(**changes), TEMPLATES)
    assert [p for p, _ in refused.value.errors] == [pointer]
    assert said in refused.value.errors[0][1]


def test_every_fault_is_named_at_once() -> None:
    """A typo in the subject and another in the text are both reported."""
    with pytest.raises(InvalidInput) as refused:
        definition(example(subject="{{ customer.nam }}", text="{{ customer.locle }}"), TEMPLATES)
    assert [p for p, _ in refused.value.errors] == ["#/subject", "#/text"]


def test_invoice_data_and_the_brand_layout_pass_the_trial_render() -> None:
    """Any invoice field is allowed (the batch's data.json brings it); an HTML
    body extending the brand layout renders for a sample customer; a template
    that fails on its values is refused with the trial named."""
    checked = definition(
        example(
            html='{% extends "_layout.html" %}{% block content %}'
            "{{ invoice.anything }} {{ customer.fields.vat_id }}{% endblock %}"
        ),
        TEMPLATES,
    )
    customer = sample_customer(checked, TEMPLATES, None)
    assert customer.fields == {"vat_id": "VAT_ID"}
    trial(checked, TEMPLATES, {"name": "Acme"}, customer)
    failing = definition(example(text="{{ customer.locale.region }}"), TEMPLATES)
    with pytest.raises(InvalidInput) as refused:
        trial(failing, TEMPLATES, {}, sample_customer(failing, TEMPLATES, None))
    assert refused.value.errors[0][0] == "#/text"
    assert "(a trial render for sample-customer)" in refused.value.errors[0][1]
    # A number filter on sample invoice text is no fault of the template.
    trial(
        definition(example(text="{{ '%.2f' | format(invoice.amount) }}"), TEMPLATES),
        TEMPLATES,
        {},
        customer,
    )
