"""Tests for gateway/json_input.py: the one reader of JSON from outside Herald."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.errors import InvalidInput
from gateway.json_input import MAX_DEPTH, MAX_DIGITS, MAX_ERRORS, MalformedJsonError, loads


def refused(text: bytes | str, **options: Any) -> list[tuple[str, str]]:
    """The (pointer, detail) pairs ``loads`` names for a document it refuses."""
    with pytest.raises(InvalidInput) as caught:
        loads(text, **options)
    return caught.value.errors


def nested(depth: int) -> bytes:
    return b'{"a": ' + b"[" * (depth - 1) + b"1" + b"]" * (depth - 1) + b"}"


def test_a_plain_document_is_read_as_json_reads_it() -> None:
    """An ordinary event body comes back exactly as the json module reads it."""
    text = '{"id": "evt_1", "data": {"n": [1, -2.5e3, true, null, "Ada \\u00e9 \\ud83d\\ude00"]}}'
    assert loads(text.encode()) == json.loads(text)


def test_nesting_up_to_the_limit_is_read_and_one_more_is_refused() -> None:
    """MAX_DEPTH levels of arrays and objects are read; one more is 400 naming line and column."""
    assert loads(nested(MAX_DEPTH))["a"]
    with pytest.raises(MalformedJsonError, match=f"line 1 column {6 + MAX_DEPTH}: .*nest more"):
        loads(nested(MAX_DEPTH + 1))


def test_a_million_levels_are_refused_without_recursion() -> None:
    """A body nested a million deep is refused as too deep, never as a RecursionError."""
    with pytest.raises(MalformedJsonError, match="nest more than"):
        loads(b"[" * 1_000_000 + b"]" * 1_000_000)


def test_brackets_inside_strings_do_not_count() -> None:
    """Brackets, escaped quotes and escaped backslashes inside strings are text, not nesting."""
    text = json.dumps(["[" * 500, '\\"' + "{" * 500, "\\", "[[" * 100 + '"'])
    assert loads(text.encode()) == json.loads(text)


def test_the_place_of_a_deep_array_is_named_after_strings_and_lines() -> None:
    """The line and column of the first bracket too deep count past strings holding quotes."""
    text = b'{"k": "a \\" [[[",\n "deep": ' + b"[" * (MAX_DEPTH + 5) + b"]" * (MAX_DEPTH + 5) + b"}"
    with pytest.raises(MalformedJsonError, match=f"line 2 column {10 + MAX_DEPTH - 1}:"):
        loads(text)


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(alphabet='[]{}"\\ab'),
        lambda inner: (
            st.lists(inner, max_size=3)
            | st.dictionaries(st.text(alphabet='[]{}"\\ab', max_size=4), inner, max_size=3)
        ),
        max_leaves=40,
    ),
    st.integers(min_value=0, max_value=3 * MAX_DEPTH),
)
def test_depth_is_refused_exactly_when_the_document_is_too_deep(value: Any, extra: int) -> None:
    """Whatever strings hold, a document is refused for depth if and only if it nests too deep."""
    for _ in range(extra):
        value = [value]
    text = json.dumps(value)

    def depth(item: Any) -> int:
        if isinstance(item, list):
            return 1 + max(map(depth, item), default=0)
        if isinstance(item, dict):
            return 1 + max(map(depth, item.values()), default=0)
        return 0

    if depth(value) > MAX_DEPTH:
        with pytest.raises(MalformedJsonError, match="nest more than"):
            loads(text)
    else:
        assert loads(text) == value


@pytest.mark.parametrize(
    ("number", "detail"),
    [
        ("9" * 5000, "more than 100 digits"),
        ("9" * (MAX_DIGITS + 1), "more than 100 digits"),
        ("1." + "0" * (MAX_DIGITS + 1), "more than 100 digits"),
        ("1e400", "does not fit a double"),
        ("-1E+0309", "does not fit a double"),
        ("NaN", "NaN is not a JSON number"),
        ("Infinity", "Infinity is not a JSON number"),
        ("-Infinity", "-Infinity is not a JSON number"),
    ],
)
def test_numbers_herald_does_not_take_are_refused_by_pointer(number: str, detail: str) -> None:
    """Long, overflowing and non-standard numbers get 422 naming where they are."""
    [(pointer, text)] = refused(f'{{"data": {{"lines": [1, {number}]}}}}')
    assert pointer == "#/data/lines/1"
    assert detail in text


def test_numbers_within_the_limits_are_read() -> None:
    """A 100-digit integer and the largest double are read as they are."""
    assert loads(("9" * MAX_DIGITS).encode()) == int("9" * MAX_DIGITS)
    assert loads(b"1.7976931348623157e308") == 1.7976931348623157e308
    assert loads(b"1e-400") == 0.0


@pytest.mark.parametrize(
    ("text", "pointer"),
    [
        ('{"id": "evt_\\ud800"}', "#/id"),
        ('{"type": "\\udfff"}', "#/type"),
        ('{"data": {"a": ["ok", "x\\udc00y"]}}', "#/data/a/1"),
        ('{"data": {"\\ud800/~": 1}}', "#/data/\ufffd~1~0"),
    ],
)
def test_lone_surrogates_are_refused_by_pointer(text: str, pointer: str) -> None:
    """A lone surrogate escape, in a string or a member name, gets 422 naming its place."""
    [(where, detail)] = refused(text)
    assert where == pointer
    assert "lone surrogate" in detail


def test_surrogates_written_as_utf8_bytes_are_not_utf8() -> None:
    """Bytes that would encode a surrogate are not UTF-8, though json.loads takes them."""
    assert json.loads(b'"\xed\xa0\x80"') == "\ud800"
    with pytest.raises(MalformedJsonError, match="line 1 column 2: the text is not UTF-8"):
        loads(b'"\xed\xa0\x80"')


def test_text_that_is_not_utf8_names_its_line_and_column() -> None:
    """Latin-1 on the second line is refused with its line and column."""
    with pytest.raises(MalformedJsonError, match="line 2 column 8: the text is not UTF-8"):
        loads('{"a": 1,\n "b": "\u00e9"}'.encode("latin-1"))


def test_text_with_a_lone_surrogate_is_not_utf8() -> None:
    """A str holding a lone surrogate, as a mail header of bad bytes is, is refused as not UTF-8."""
    with pytest.raises(MalformedJsonError, match="character 8: the text is not UTF-8"):
        loads('{"a": "\udcff"}')


def test_nul_is_refused_unless_the_caller_keeps_json() -> None:
    """U+0000 in a string is 422 by default and read when the caller allows it."""
    assert refused(b'{"name": "a\\u0000b"}') == [
        ("#/name", "the string holds U+0000, which Herald does not keep")
    ]
    assert loads(b'{"name": "a\\u0000b"}', allow_nul=True) == {"name": "a\x00b"}
    assert loads(b'{"name": "a\\\\u0000b"}') == {"name": "a\\u0000b"}


def test_every_fault_is_named_up_to_a_limit() -> None:
    """Each refused place is named, in document order, up to MAX_ERRORS of them."""
    body = {f"k{n}": "NaN" for n in range(MAX_ERRORS + 5)}
    errors = refused(json.dumps(body).replace('"NaN"', "NaN"))
    assert [pointer for pointer, _ in errors] == [f"#/k{n}" for n in range(MAX_ERRORS)]


def test_syntax_errors_name_line_and_column() -> None:
    """Text that is not JSON gets json's own reason with its line and column."""
    with pytest.raises(MalformedJsonError, match="Expecting ',' delimiter: line 2 column 3"):
        loads(b'{"a": 1\n  "b": 2}')
    with pytest.raises(MalformedJsonError, match="Expecting value: line 1 column 1"):
        loads(b"")


@given(st.binary(max_size=300) | st.text(max_size=100).map(str.encode))
def test_any_bytes_give_a_value_or_one_of_the_two_refusals(data: bytes) -> None:
    """Whatever the bytes, the reader answers a value, MalformedJsonError or InvalidInput."""
    try:
        value = loads(data)
    except (MalformedJsonError, InvalidInput):
        return
    assert json.loads(data) == value or (isinstance(value, float) and math.isnan(value))


@given(st.text(alphabet=st.characters(categories=["Cs", "Ll", "Nd"]), max_size=20))
def test_any_string_comes_back_or_is_refused_for_its_surrogate(text: str) -> None:
    """A JSON string is read back as json reads it unless that holds a lone surrogate
    (escapes of a high and a low one make one character), which is named."""
    document = json.dumps({"s": text})
    expected = json.loads(document)
    if any("\ud800" <= ch <= "\udfff" for ch in expected["s"]):
        assert refused(document)[0][0] == "#/s"
    else:
        assert loads(document) == expected
