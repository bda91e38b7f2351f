"""The runs query language: terms, dates, and the errors that name what is wrong."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.errors import InvalidInput
from gateway.store.run_filter import MAX_QUERY, MAX_TERMS, RunFilter, from_fields, parse_query

NOV_1 = datetime(2026, 11, 1, tzinfo=UTC).timestamp()


def test_every_key_sets_its_filter() -> None:
    """to:, status:, type:, definition:, after: and before: each set one field;
    a bare address means to: and keys are read in any case."""
    found = parse_query(
        'Status:failed type:invoice.issued definition:"monthly-invoice" after:2026-11-01'
        " before:2026-11-02T00:00:00+01:00 ap@acme.example"
    )
    assert found == RunFilter(
        status="failed",
        email_type="invoice.issued",
        definition="monthly-invoice",
        recipient="ap@acme.example",
        created_after=NOV_1,
        created_before=NOV_1 + 23 * 3600,
    )
    assert not parse_query("")


@pytest.mark.parametrize(
    ("query", "says"),
    [
        ("colour:red", "unknown key 'colour'"),
        ("status:lost", "unknown status 'lost'"),
        ("after:2026-13-01", "'2026-13-01' is not a date"),
        ("before:2026-11-01T09:30:00", "needs its offset from UTC"),
        ("to:a@b.example to:c@d.example", "to: is given twice"),
        ("type:", "needs a value"),
        ("hello", "'hello' is not a term"),
        ('type:"open', "a quote that is not closed"),
        ("to:a@b.example " * MAX_TERMS + "x@y.example", f"at most {MAX_TERMS} terms"),
        ("a" * (MAX_QUERY + 1), f"at most {MAX_QUERY} characters"),
    ],
)
def test_a_bad_query_names_the_box_and_the_mistake(query: str, says: str) -> None:
    """Each mistake is InvalidInput on the query box, saying what is wrong."""
    with pytest.raises(InvalidInput) as raised:
        parse_query(query)
    [(pointer, detail)] = raised.value.errors
    assert pointer == "#/q"
    assert says in detail


def test_fields_and_the_query_combine_and_a_field_names_itself() -> None:
    """Filter fields (empty ones ignored) and the query box add up; a bad
    field is named by its own name, and a key given in both is refused."""
    found = from_fields(
        [("status", "sent"), ("type", ""), ("to", "a@b.example")], "after:2026-11-01"
    )
    assert found == RunFilter(status="sent", recipient="a@b.example", created_after=NOV_1)
    with pytest.raises(InvalidInput) as raised:
        from_fields([("before", "yesterday")])
    assert raised.value.errors[0][0] == "#/before"
    with pytest.raises(InvalidInput, match="given twice"):
        from_fields([("status", "sent")], "status:failed")


@given(st.text(max_size=200))
def test_any_text_is_a_filter_or_a_clear_error(text: str) -> None:
    """Whatever is typed into the box gives a filter or InvalidInput, nothing else."""
    with contextlib.suppress(InvalidInput):
        assert isinstance(parse_query(text), RunFilter)
