"""Customer lines from the platform: valid ones kept, anything else named precisely."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.customers import customer
from gateway.errors import InvalidInput

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
