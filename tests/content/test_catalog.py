"""Tests for gateway/content/catalog.py: the shipped catalog, samples, required tags and
suggestions."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config import SHIPPED_TEMPLATES
from gateway.content.catalog import Catalog
from gateway.content.templating import Templates
from gateway.errors import ConfigError, NotFoundError


def test_every_shipped_template_type_has_a_catalog_entry() -> None:
    """Each folder in templates/ is described in catalog.toml, with the common tags."""
    catalog = Catalog.load(SHIPPED_TEMPLATES)
    for email_type in Templates(SHIPPED_TEMPLATES).types():
        entry = catalog.get(email_type)
        names = [tag.name for tag in entry.tags]
        assert {"recipient.email", "brand.name", "event.id"} <= set(names)


def test_sample_is_built_from_examples() -> None:
    """The sample data carries every tag's example under its root."""
    sample = Catalog.load(SHIPPED_TEMPLATES).get("invoice.issued").sample()
    assert sample["data"]["invoice_number"] == "INV-2026-0042"
    assert sample["recipient"]["email"] == "ada@example.com"
    assert sample["event"]["type"] == "invoice.issued"


def test_missing_lists_required_data_tags_only() -> None:
    """An empty or absent required value is missing; optional ones never are."""
    entry = Catalog.load(SHIPPED_TEMPLATES).get("invoice.issued")
    missing = entry.missing({"invoice_number": "", "amount": "1.00"})
    assert [tag.name for tag in missing] == ["data.invoice_number", "data.currency"]


def test_unknown_type_suggests_the_closest() -> None:
    """A misspelt email type is refused with a did-you-mean."""
    with pytest.raises(NotFoundError, match=r"did you mean 'invoice.issued'\?"):
        Catalog.load(SHIPPED_TEMPLATES).get("invoice.isued")


def test_suggest_finds_a_misspelt_tag() -> None:
    """difflib finds the tag meant by a typo."""
    entry = Catalog.load(SHIPPED_TEMPLATES).get("invoice.issued")
    assert entry.suggest("data.invoice_numbr") == "data.invoice_number"
    assert entry.suggest("data.zzz") is None


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ('{ name = "invoice" }', "must be one of recipient, event, data, brand"),
        ('{ name = "data.x", colour = 1 }', "unknown key 'colour'"),
        ('{ name = "data.x", required = "yes" }', "required must be true or false"),
    ],
)
def test_bad_catalog_entries_are_config_errors(tmp_path: Path, entry: str, message: str) -> None:
    """A broken catalog names the file, the type and the fault."""
    (tmp_path / "catalog.toml").write_text(f"[types.t]\ntags = [{entry}]\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=message):
        Catalog.load(tmp_path)


def test_search_finds_tags_by_every_word_of_name_or_description() -> None:
    """The drawer's search: each word must appear, in any case, in the name or description."""
    entry = Catalog.load(SHIPPED_TEMPLATES).get("invoice.issued")
    assert entry.search("") == list(entry.tags)
    names = [tag.name for tag in entry.search("INVOICE number")]
    assert "data.invoice_number" in names
    assert all("invoice" in (t.name + t.description).lower() for t in entry.search("invoice"))
    assert entry.search("no such tag anywhere") == []
