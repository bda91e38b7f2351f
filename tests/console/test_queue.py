"""Tests for gateway/console/queue.py: which messages a posted form acts on."""

from __future__ import annotations

import pytest
from multidict import MultiDict

from gateway.console.queue import MOST, _selection
from gateway.errors import InvalidInput


def test_a_rows_own_button_wins_over_the_ticked_boxes() -> None:
    """``only`` (a row's button) names one message; else every ticked box, once each."""
    ticked = MultiDict([("message", "msg_01a"), ("message", "msg_02b"), ("message", "msg_01a")])
    assert _selection(ticked) == ["msg_01a", "msg_02b"]
    assert _selection(MultiDict([*ticked.items(), ("only", "msg_03c")])) == ["msg_03c"]


@pytest.mark.parametrize(
    ("form", "words"),
    [
        (MultiDict(), "Tick at least one message first."),
        (MultiDict([("message", "run_123")]), "expected a message id"),
        (MultiDict([("only", "msg_" + "a" * 100)]), "That is not a message id."),
        (MultiDict([("message", f"msg_{n}") for n in range(MOST + 1)]), f"at most {MOST}"),
    ],
)
def test_a_selection_is_refused_at_the_field_when_it_is_no_selection(
    form: MultiDict[str], words: str
) -> None:
    """Nothing ticked, an id that is none, or more than a page's worth: an error at #/message."""
    with pytest.raises(InvalidInput, match=words) as refused:
        _selection(form)
    assert refused.value.field == "#/message"
