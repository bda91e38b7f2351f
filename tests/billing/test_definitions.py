"""Message definitions: what a definition may say, and each mistake named."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from gateway.billing.definitions import definition
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
