"""Tests for gateway/content/history.py: diffs between template versions."""

from __future__ import annotations

import difflib

from hypothesis import given
from hypothesis import strategies as st

from gateway.content.history import diff_parts
from gateway.store import TemplateParts

LINES = st.lists(st.sampled_from(["a", "b", "c", "<p>{{ x }}</p>", ""]), max_size=30)


@given(LINES, LINES)
def test_the_hunks_are_those_of_a_unified_diff(old: list[str], new: list[str]) -> None:
    """Kinds, texts and hunk headers match difflib's unified diff line for line."""
    (html,) = [
        d
        for d in diff_parts(
            TemplateParts("s", "\n".join(old), ""), TemplateParts("s", "\n".join(new), ""), "a", "b"
        )
        if d.part == "html"
    ]
    old, new = "\n".join(old).splitlines(), "\n".join(new).splitlines()
    expected = list(difflib.unified_diff(old, new, lineterm=""))[2:]
    assert html.unified().splitlines()[2:] == expected
    assert html.changed == bool(expected)


@given(LINES, LINES)
def test_line_numbers_point_into_their_texts(old: list[str], new: list[str]) -> None:
    """Each line's number finds that very line in the older or newer text."""
    old, new = "\n".join(old).splitlines(), "\n".join(new).splitlines()
    diff = diff_parts(
        TemplateParts("\n".join(old), "h", ""), TemplateParts("\n".join(new), "h", ""), "a", "b"
    )
    for line in diff[0].lines:
        if line.old is not None:
            assert old[line.old - 1] == line.text
        if line.new is not None:
            assert new[line.new - 1] == line.text
        assert (line.kind == "hunk") == (line.old is None and line.new is None)


def test_markup_stays_text() -> None:
    """A diff carries the template's characters as they are, for the page to escape."""
    (subject, _, _) = diff_parts(
        TemplateParts("<script>x</script>", "h", ""), TemplateParts("y", "h", ""), "a", "b"
    )
    assert subject.lines[1].text == "<script>x</script>"
