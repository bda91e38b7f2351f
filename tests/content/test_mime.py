"""Header checks on the message Herald is about to queue."""

from __future__ import annotations

import base64
import email.policy
from email.message import EmailMessage
from email.parser import BytesParser

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.content import mime
from gateway.errors import UnsafeHeader
from tests.encoded_words import EVIL


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


def parse(raw: bytes) -> EmailMessage:
    """A raw message as the SMTP listener parses it."""
    message = BytesParser(policy=email.policy.default).parsebytes(raw)
    assert isinstance(message, EmailMessage)
    return message


ENCODED_CRLF = f"=?utf-8?q?Ada=0D=0ABcc:_{EVIL}?="


def test_an_encoded_break_in_a_display_name_is_refused() -> None:
    """A recipient name that is an encoded CR LF, set as Herald sets it, is refused:
    the email package would otherwise write it out decoded as a Bcc header."""
    message = mime.compose(
        sender=mime.mailbox("a@herald.test"),
        to=[mime.mailbox("ada@example.com", ENCODED_CRLF)],
        subject="hi",
        text="hi",
        html=None,
        message_id="<1@herald.test>",
    )
    with pytest.raises(ValueError, match=r"^the To header must not contain CR, LF or NUL"):
        mime.check_headers(message)


@pytest.mark.parametrize(
    "header",
    [
        f"To: {ENCODED_CRLF} <bob@example.com>",
        f"Cc: carol@example.com, {ENCODED_CRLF} <dan@example.com>",
        f"Subject: quarterly\r\n {ENCODED_CRLF}",
        f"Reply-To: =?utf-8?b?{base64.b64encode(b'X' + bytes([13, 10]) + b'Bcc: e@x').decode()}?="
        " <r@example.com>",
        f"X-Custom: {ENCODED_CRLF}",
        # RFC 2231 §4: a parameter percent-encoded, which the email package decodes.
        f"Content-Disposition: attachment; filename*=utf-8''a%0D%0ABcc%3A%20{EVIL}",
        f'Content-Disposition: attachment; filename="{ENCODED_CRLF}"',
    ],
)
def test_raw_headers_hiding_a_break_are_refused_with_a_value_error(header: str) -> None:
    """Headers read from a raw message, folded or not, address lists and
    parameters included, are refused as ValueError, never as a crash of the
    email package's parser."""
    message = parse(b"From: app@example.com\r\n" + header.encode() + b"\r\n\r\nx\r\n")
    with pytest.raises(ValueError, match=r"must not contain|cannot be read"):
        mime.check_headers(message)


def test_a_header_checked_once_is_checked_alike_every_time() -> None:
    """The check remembers values that passed, never refusals: a hostile value
    is refused on every message that carries it, beside a safe one that
    passes on each, and in cleanup as at the listener."""
    raw = b"From: app@example.com\r\nSubject: " + ENCODED_CRLF.encode() + b"\r\n\r\nx\r\n"
    for _ in range(3):
        message = parse(raw)
        with pytest.raises(ValueError, match=r"^the Subject header must not contain"):
            mime.check_headers(message)
        with pytest.raises(UnsafeHeader):
            mime.cleanup(message, message_id="<1@herald.test>")
        mime.check_headers(parse(b"From: app@example.com\r\nSubject: hi\r\n\r\nx\r\n"))


def test_headers_of_every_part_are_checked() -> None:
    """A break hidden in an attachment's header is refused as one in the top level is."""
    message = parse(
        b"From: app@example.com\r\nTo: bob@example.com\r\nSubject: report\r\n"
        b'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n'
        b"--b\r\nContent-Type: text/plain\r\n\r\nhello\r\n"
        b"--b\r\nContent-Type: application/pdf\r\n"
        b"Content-Disposition: attachment; filename*=utf-8''r%0D%0AX-Evil%3A%201.pdf\r\n\r\n"
        b"JVBERi0=\r\n--b--\r\n"
    )
    with pytest.raises(ValueError, match="the Content-Disposition header"):
        mime.check_headers(message)


def test_folded_and_encoded_headers_that_decode_to_one_line_pass() -> None:
    """Long folded headers and encoded names stay acceptable."""
    message = parse(
        b"From: =?utf-8?q?Zo=C3=AB?= <app@example.com>\r\n"
        b"To: =?utf-8?b?5pel5pys6Kqe?= <bob@example.com>,\r\n\tcarol@example.com\r\n"
        b"Subject: a subject long enough to have been folded\r\n by the client that sent it\r\n"
        b"\r\nx\r\n"
    )
    mime.check_headers(message)


def test_what_is_written_must_hold_exactly_the_headers_meant() -> None:
    """check_written accepts a message's own wire form and refuses bytes whose
    header block gained a header, naming it."""
    message = mime.compose(
        sender=mime.mailbox("a@herald.test"),
        to=[mime.mailbox("b@example.com", "Zoë")],
        subject="hi",
        text="hi",
        html=None,
        message_id="<1@herald.test>",
    )
    content = mime.to_bytes(message)
    mime.check_written(message, content)
    forged = content.replace(b"Subject: hi\r\n", f"Subject: hi\r\nBcc: {EVIL}\r\n".encode())
    with pytest.raises(ValueError, match="would gain bcc"):
        mime.check_written(message, forged)
    folded_in = content.replace(b"Subject: hi\r\n", b"Subject: hi\r\n =?utf-8?q?=0D=0A?=\r\n")
    with pytest.raises(ValueError, match="the Subject header as written must not contain"):
        mime.check_written(message, folded_in)
