"""Tests for gateway/replies.py: every SMTP reply Herald sends is one line whose
enhanced status code (RFC 3463) agrees with its reply code (RFC 5321)."""

from __future__ import annotations

import re

import pytest

from gateway.replies import Reply

LINE = re.compile(r"^([245])\d\d ([245])\.\d{1,3}\.\d{1,3} \S")


@pytest.mark.parametrize("reply", list(Reply), ids=lambda reply: reply.name)
def test_each_reply_has_a_code_and_an_enhanced_code_of_the_same_class(reply: Reply) -> None:
    """RFC 3463 §2: the enhanced code's class is the reply code's first digit."""
    match = LINE.match(reply.value)
    assert match is not None, reply.value
    assert match[1] == match[2]


def test_fields_are_filled_in_and_a_line_break_cannot_start_a_second_reply() -> None:
    """RFC 5321 §4.2: a reason carrying CR LF is folded into the one line."""
    line = Reply.REJECTED.format_reply(reason="no\r\n250 2.0.0 Ok: queued")
    assert line == "550 5.7.1 no 250 2.0.0 Ok: queued"
    assert "\r" not in line
    assert "\n" not in line
    assert Reply.QUEUED.format_reply(run_id="run_1") == "250 2.0.0 Ok: queued as run_1"


def test_a_missing_field_is_a_programming_error_not_a_literal_brace() -> None:
    """A reply is never sent with its placeholder unfilled."""
    with pytest.raises(KeyError):
        Reply.DEFERRED.format_reply()
