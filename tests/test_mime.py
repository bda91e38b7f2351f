"""Header checks on the message Herald is about to queue."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway import mime


@given(st.text(max_size=60))
def test_a_composed_subject_is_refused_exactly_when_it_carries_cr_lf_or_nul(subject: str) -> None:
    """check_headers refuses a subject with a line break or NUL and accepts every other one."""
    try:
        message = mime.compose(
            sender=mime.mailbox("a@herald.test"),
            to=[mime.mailbox("b@example.com")],
            subject=subject,
            text="hi",
            html=None,
            message_id="<1@herald.test>",
        )
    except ValueError:
        # The email package refuses some values outright; nothing is built.
        assert len(subject.splitlines()) > 1 or subject != subject.strip("\r\n")
        return
    if len(f"{subject}.".splitlines()) > 1 or "\x00" in subject:
        with pytest.raises(ValueError, match="must not contain"):
            mime.check_headers(message)
    else:
        mime.check_headers(message)
