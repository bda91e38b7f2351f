"""Tests for gateway/console/messages.py: how a stored message is read for its page."""

from __future__ import annotations

import base64

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.console.messages import read

LOGO = b"\x89PNG\r\n\x1a\nlogo"
MESSAGE = (
    b"From: Billing <billing@acme.test>\r\n"
    b"To: ada@example.com\r\n"
    b"Subject: =?utf-8?q?Caf=C3=A9_invoice?=\r\n"
    b"X-Long: one\r\n two\r\n"
    b"MIME-Version: 1.0\r\n"
    b'Content-Type: multipart/mixed; boundary="m"\r\n\r\n'
    b"--m\r\n"
    b'Content-Type: multipart/related; boundary="r"\r\n\r\n'
    b"--r\r\n"
    b'Content-Type: multipart/alternative; boundary="a"\r\n\r\n'
    b"--a\r\n"
    b"Content-Type: text/plain; charset=x-unknown\r\n\r\n"
    b"Hello \xff\r\n"
    b"--a\r\n"
    b"Content-Type: text/html; charset=utf-8\r\n\r\n"
    b'<p>Hello</p><img src="cid:logo@herald">\r\n'
    b"--a--\r\n"
    b"--r\r\n"
    b"Content-Type: image/png\r\n"
    b"Content-ID: <logo@herald>\r\n"
    b"Content-Transfer-Encoding: base64\r\n\r\n" + base64.b64encode(LOGO) + b"\r\n"
    b"--r--\r\n"
    b"--m\r\n"
    b"Content-Type: application/zip\r\n"
    b'Content-Disposition: attachment; filename="invoice.zip"\r\n'
    b"Content-Transfer-Encoding: base64\r\n\r\n" + base64.b64encode(b"PK\x03\x04zip") + b"\r\n"
    b"--m--\r\n"
)


def test_a_message_is_read_as_a_mail_client_shows_it() -> None:
    """Headers as written (unfolded), the decoded subject, the HTML with its cid:
    image as a data: URL, the text part despite an unknown charset, and the
    attachment by name, type and size."""
    shown = read(MESSAGE)
    assert shown.subject == "Café invoice"
    assert ("X-Long", "one two") in shown.headers
    assert ("Subject", "=?utf-8?q?Caf=C3=A9_invoice?=") in shown.headers
    assert shown.html is not None
    assert f'src="data:image/png;base64,{base64.b64encode(LOGO).decode()}"' in shown.html
    assert "cid:" not in shown.html
    assert shown.text is not None
    assert shown.text.startswith("Hello \ufffd")
    [attachment] = shown.attachments
    assert (attachment.name, attachment.content_type, attachment.size) == (
        "invoice.zip",
        "application/zip",
        7,
    )


def test_a_message_without_mime_is_its_text() -> None:
    """A plain message (RFC 5322 without MIME) has a text part and no HTML."""
    shown = read(b"Subject: hi\r\n\r\njust text\r\n")
    assert (shown.subject, shown.html, shown.text) == ("hi", None, "just text\r\n")
    assert shown.attachments == []


# Header lines that steer the parser: multipart, encodings, charsets, encoded words.
STEERING = st.sampled_from(
    [
        b"Content-Type: multipart/mixed; boundary=b\r\n",
        b"Content-Type: multipart/alternative; boundary=b\r\n",
        b"Content-Type: text/html; charset=bogus\r\n",
        b"Content-Type: image/png\r\n",
        b"Content-Transfer-Encoding: base64\r\n",
        b"Content-Transfer-Encoding: quoted-printable\r\n",
        b"Content-Disposition: attachment; filename*=utf-8''%FF\r\n",
        b"Content-ID: <x>\r\n",
        b"Subject: =?utf-8?b?////?=\r\n",
        b"From: <<@>>\r\n",
        b"--b\r\n",
    ]
)


# No deadline: on a busy machine one parse may take longer than hypothesis's 200 ms.
@settings(deadline=None)
@given(st.lists(STEERING, max_size=8), st.binary(max_size=2000))
def test_any_bytes_are_read_without_an_error(headers: list[bytes], body: bytes) -> None:
    """Whatever the store holds (a message from the SMTP listener is kept as
    it was sent), reading it for the page never raises."""
    shown = read(b"".join(headers) + b"\r\n" + body + b"".join(headers) + body)
    assert isinstance(shown.headers, list)
