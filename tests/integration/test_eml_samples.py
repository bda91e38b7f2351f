"""Real mail from common clients and libraries, sent through the SMTP listener.

Each sample in ``tests/fixtures/eml/`` is written as its client writes it
(multipart/alternative with attachments, encoded-word headers, long folded
headers, RFC 2231 filenames). What arrives upstream is read with the
``email`` package as a mail client reads it and must say what was sent.
"""

from __future__ import annotations

import email
import email.policy
import email.utils
import re
from email.message import EmailMessage
from pathlib import Path

import pytest

from tests.integration.harness import Capture, Herald

SAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "eml"
# Headers Herald takes away on purpose: its control headers never leave it
# and Bcc lives in the envelope only.
REMOVED = {"bcc", "x-herald-type", "x-herald-customer"}


def on_the_wire(path: Path) -> bytes:
    """The sample as a client sends it: every line ends in CRLF (RFC 5322 §2.3)."""
    return re.sub(rb"\r?\n", b"\r\n", path.read_bytes())


def parsed(content: bytes) -> EmailMessage:
    message = email.message_from_bytes(content, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def headers(message: EmailMessage) -> list[tuple[str, str]]:
    """The top-level headers a reader sees, decoded and unfolded, in order."""
    return [
        (name.lower(), " ".join(str(value).split()))
        for name, value in message.items()
        if name.lower() not in REMOVED | {"received"}
    ]


def parts(message: EmailMessage) -> list[tuple[str, str | None, str | bytes | None]]:
    """Every part's type, filename and decoded content, in tree order."""
    found: list[tuple[str, str | None, str | bytes | None]] = []
    for part in message.walk():
        assert isinstance(part, EmailMessage)
        if part.is_multipart():
            found.append((part.get_content_type(), None, None))
            continue
        content = part.get_content()
        if isinstance(content, str):
            # A relay may re-encode a text part; its lines are what the reader sees.
            content = content.replace("\r\n", "\n")
        found.append((part.get_content_type(), part.get_filename(), content))
    return found


def test_every_kind_of_sample_is_there() -> None:
    """The samples named by the test plan are all present, so none is skipped unseen."""
    assert {path.name for path in SAMPLES.glob("*.eml")} >= {
        "thunderbird-alternative-attachment.eml",
        "outlook-encoded-words.eml",
        "phpmailer-long-folded-headers.eml",
        "rfc2231-filename.eml",
    }


@pytest.mark.parametrize("sample", sorted(SAMPLES.glob("*.eml")), ids=lambda path: path.stem)
def test_a_client_sample_arrives_upstream_as_sent(
    herald: Herald, capture: Capture, sample: Path
) -> None:
    """A real client's message reaches the upstream with the same decoded headers,
    the same MIME tree, filenames and part contents, and only Herald's own changes."""
    raw = on_the_wire(sample)
    sent = parsed(raw)
    named = [str(value) for value in sent.get_all("to", []) + sent.get_all("cc", [])]
    envelope = sorted(address for _, address in email.utils.getaddresses(named))
    # An 8-bit body is announced as RFC 6152 asks; the others go as 7-bit.
    options = ["BODY=8BITMIME"] if any(byte > 0x7F for byte in raw) else []
    with herald.smtp() as client:
        refused = client.sendmail("app@example.com", envelope, raw, mail_options=options)
        assert refused == {}
        code, reply = client.noop()
        assert code == 250, reply

    [mail] = capture.wait_for(lambda c: c.message["Message-ID"] == sent["Message-ID"])
    assert sorted(mail.rcpt_tos) == sorted([*envelope, "archive@herald.test"])
    arrived = mail.message
    assert headers(arrived) == headers(sent)
    assert parts(arrived) == parts(sent)
    assert arrived["X-Herald-Type"] is None
    assert "by herald.test (Herald)" in str(arrived["Received"])
    assert arrived.defects == []
    for part in arrived.walk():
        assert part.defects == [], (part.get_content_type(), part.defects)
