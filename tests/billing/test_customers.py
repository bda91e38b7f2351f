"""Customer lines from the platform: valid ones kept, anything else named precisely."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.billing.customers import MAX_NAMED, BadLines, customer, sync
from gateway.errors import InvalidInput
from gateway.store import Store, open_store
from tests import stores
from tests.encoded_words import EVIL, encode

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=10,
)


def test_a_full_line_becomes_a_customer() -> None:
    """One address or several under a key; clusters deduplicated."""
    found = customer(
        {
            "id": "cus_1",
            "name": "Acme",
            "locale": "nl-NL",
            "fields": {"vat_id": "NL1", "seats": 3},
            "clusters": ["eu", "eu", "pro"],
            "addresses": {"invoice": ["a@acme.test", "b@acme.test"], "technical": "o@acme.test"},
        }
    )
    assert found.clusters == ("eu", "pro")
    assert found.addresses == {
        "invoice": ("a@acme.test", "b@acme.test"),
        "technical": ("o@acme.test",),
    }


@pytest.mark.parametrize(
    ("line", "pointer"),
    [
        ({"id": "../etc"}, "#/id"),
        ({"id": "c", "addresses": {"invoice": ["ok@x.test", "bad"]}}, "#/addresses/invoice/1"),
        ({"id": "c", "name": "A\r\nBcc: x@y.test"}, "#/name"),
        ({"id": "c", "clusters": ["EU"]}, "#/clusters/0"),
        ({"id": "c", "fields": {"x": [1]}}, "#/fields/x"),
        ({"id": "c", "email": "a@b.test"}, "#/email"),
    ],
)
def test_bad_lines_name_the_field(line: dict[str, Any], pointer: str) -> None:
    """Each refusal points at the offending field."""
    with pytest.raises(InvalidInput) as refused:
        customer(line)
    assert refused.value.field == pointer


@given(JSON)
def test_any_json_is_a_customer_or_invalid_input(data: Any) -> None:
    """Whatever the platform sends, the only failure is InvalidInput."""
    with contextlib.suppress(InvalidInput):
        customer(data)


@pytest.mark.parametrize(
    ("line", "pointer"),
    [
        ({"id": "c", "name": f"=?utf-8?q?Acme=0D=0ABcc:_{EVIL}?="}, "#/name"),
        ({"id": "c", "name": encode(f"Acme\r\nBcc: {EVIL}".encode(), "b")}, "#/name"),
        ({"id": "c", "locale": "=?utf-8?q?nl=0A?="}, "#/locale"),
        ({"id": "c", "fields": {"ref": f"=?utf-8?q?=0D=0ABcc:_{EVIL}?="}}, "#/fields/ref"),
        (
            {"id": "c", "addresses": {"invoice": ["=?utf-8?q?=0D=0A?=@acme.example"]}},
            "#/addresses/invoice/0",
        ),
    ],
)
def test_encoded_line_breaks_are_refused_by_field(line: dict[str, Any], pointer: str) -> None:
    """A name, locale, field or address whose encoded word decodes to a break is
    refused, naming it: the name is the display name of every address."""
    with pytest.raises(InvalidInput, match="encoded word") as refused:
        customer(line)
    assert refused.value.field == pointer


def test_fields_keep_their_own_line_breaks() -> None:
    """A field may span lines; only a break hidden in an encoded word is refused."""
    assert customer({"id": "c", "fields": {"address": "Keizersgracht 1\n1015 CJ"}}).fields == {
        "address": "Keizersgracht 1\n1015 CJ"
    }


async def test_an_import_with_bad_lines_names_each_and_keeps_nothing(tmp_path: Path) -> None:
    """Every bad line is named (a hidden break, bad JSON); the good lines
    around them are not imported either, and the audit log has no entry."""

    async def lines() -> Any:
        yield json.dumps({"id": "cus_1", "name": "Acme"}).encode()
        yield json.dumps({"id": "cus_2", "name": f"=?utf-8?q?X=0D=0ABcc:_{EVIL}?="}).encode()
        yield b"{not json"
        yield json.dumps({"id": "cus_4", "name": "Globex"}).encode()

    store = open_store(stores.url_for(tmp_path))
    await store.open()
    try:
        with pytest.raises(InvalidInput, match="nothing was imported") as refused:
            await sync(store, lines(), actor="test")
        assert [pointer for pointer, _ in refused.value.errors] == ["line 2 #/name", "line 3"]
        assert await store.list_customers() == []
        assert await store.list_audit(setting="customers") == []
    finally:
        await store.close()


async def test_an_import_is_audited_and_customers_can_be_searched_and_deleted(
    tmp_path: Path,
) -> None:
    """A good file imports in one go with one audit entry; search finds by
    name, address and field; a delete is audited and leaves the others."""

    async def lines() -> Any:
        yield json.dumps(
            {"id": "cus_1", "name": "Acme", "clusters": ["eu"], "fields": {"vat_id": "NL9"}}
        ).encode()
        yield json.dumps(
            {"id": "cus_2", "name": "Globex", "addresses": {"invoice": "ap@globex.test"}}
        ).encode()

    store = open_store(stores.url_for(tmp_path))
    await store.open()
    try:
        assert await sync(store, lines(), actor="test") == 2
        [entry] = await store.list_audit(setting="customers")
        assert entry.actor == "test"
        assert [c.id for c in await store.list_customers(search="ACME")] == ["cus_1"]
        assert [c.id for c in await store.list_customers(search="globex.test")] == ["cus_2"]
        assert [c.id for c in await store.list_customers(search="nl9")] == ["cus_1"]
        assert [c.id for c in await store.list_customers(cluster="eu")] == ["cus_1"]
        assert [c.id for c in await store.list_customers(after="cus_1")] == ["cus_2"]
        assert await store.delete_customers(["cus_1", "cus_9"], actor="test") == 1
        assert [c.id for c in await store.list_customers()] == ["cus_2"]
        assert [e.setting for e in await store.list_audit(limit=1)] == ["customers/cus_1"]
    finally:
        await store.close()


async def _lines(*lines: bytes) -> AsyncIterator[bytes]:
    for line in lines:
        yield line


def _line(ident: str, **more: object) -> bytes:
    return json.dumps({"id": ident, **more}).encode() + b"\n"


async def test_bad_lines_are_reported_by_number_field_and_detail(store: Store) -> None:
    """Each bad line is named by its number (blank lines counted), the field
    as a JSON pointer ('' when the line is no JSON) and what is wrong; nothing
    is imported."""
    with pytest.raises(BadLines) as refused:
        await sync(
            store,
            _lines(_line("ok_1"), b"\n", _line("bad id!"), b"{nope\n", _line("ok_2", fields=[])),
            actor="test",
        )
    lines = refused.value.lines
    assert [(number, field) for number, field, _ in lines] == [
        (3, "#/id"),
        (4, ""),
        (5, "#/fields"),
    ]
    assert "not valid JSON" in lines[1][2]
    assert refused.value.bad == 3
    assert refused.value.summary == "3 bad line(s); nothing was imported"
    assert refused.value.errors[0] == ("line 3 #/id", lines[0][2])
    assert refused.value.errors[1][0] == "line 4"
    assert await store.list_customers() == []


async def test_past_the_named_limit_bad_lines_are_counted_not_named(store: Store) -> None:
    """A file of many bad lines names the first ``MAX_NAMED`` and counts them all."""
    bad = [b"[]\n"] * (MAX_NAMED + 5)
    with pytest.raises(BadLines) as refused:
        await sync(store, _lines(*bad), actor="test")
    assert len(refused.value.lines) == MAX_NAMED
    assert refused.value.bad == MAX_NAMED + 5
