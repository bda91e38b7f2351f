"""Tests for gateway/console/audit.py: the fields of a change, those it touched marked."""

from __future__ import annotations

from gateway.console.audit import Line, lines


def test_only_the_fields_a_change_touched_are_marked() -> None:
    """A field that differs, or that the other side lacks, is marked; a value
    the change made or removed has no other side, so every field is marked."""
    old = {"host": "a", "port": 25, "gone": True}
    new = {"host": "b", "port": 25, "added": [1]}
    assert lines(old, new) == [
        Line("gone", "true", True),
        Line("host", '"a"', True),
        Line("port", "25", False),
    ]
    assert lines(new, old) == [
        Line("added", "[1]", True),
        Line("host", '"b"', True),
        Line("port", "25", False),
    ]
    assert lines(None, new) is None
    assert all(line.changed for line in lines(new, None) or [])
