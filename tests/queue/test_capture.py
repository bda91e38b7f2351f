"""Tests for gateway/queue/capture.py: the Maildir that stands in for the upstream."""

from __future__ import annotations

import asyncio
import mailbox
from pathlib import Path

from gateway.queue.capture import MaildirCapture
from tests.queue import CONTENT, MAIL_FROM


async def test_capture_writes_one_file_per_message(tmp_path: Path) -> None:
    """Each message becomes one file in the Maildir's new/, with the envelope in front."""
    outbox = tmp_path / "outbox"
    capture = MaildirCapture(outbox)
    results = await capture.send(MAIL_FROM, ["ada@example.com", "audit@example.com"], CONTENT)
    await capture.send(MAIL_FROM, ["bob@example.com"], CONTENT.replace(b"Ada", b"Bob"))

    files = sorted((outbox / "new").iterdir())
    assert len(files) == 2
    assert (outbox / "cur").is_dir()
    assert (outbox / "tmp").is_dir()
    contents = [f.read_bytes() for f in files]
    first = next(c for c in contents if b"ada@example.com, audit" in c)
    assert first.startswith(
        b"Return-Path: <herald@herald.test>\r\n"
        b"X-Envelope-To: ada@example.com, audit@example.com\r\n"
    )
    assert first.endswith(CONTENT)
    assert any(c.endswith(CONTENT.replace(b"Ada", b"Bob")) for c in contents)

    assert set(results) == {"ada@example.com", "audit@example.com"}
    for result in results.values():
        assert result.verdict == "sent"
        assert result.reply is not None
        assert result.reply.startswith("250 ")


async def test_captured_message_is_readable_as_mail(tmp_path: Path) -> None:
    """A captured file parses as a message with the envelope headers and the original ones."""
    capture = MaildirCapture(tmp_path / "outbox")
    results = await capture.send(MAIL_FROM, ["ada@example.com"], CONTENT)
    box = mailbox.Maildir(tmp_path / "outbox", create=False)
    [(key, message)] = list(box.items())
    reply = results["ada@example.com"].reply
    assert reply is not None
    assert key in reply
    assert message["Return-Path"] == "<herald@herald.test>"
    assert message["X-Envelope-To"] == "ada@example.com"
    assert message["Subject"] == "Your invoice"
    assert "your invoice is ready" in message.get_payload()


def test_capture_describes_its_directory(tmp_path: Path) -> None:
    """describe() names the Maildir that stands in for the upstream."""
    assert MaildirCapture(tmp_path).describe() == f"maildir:{tmp_path}"


async def test_capture_creates_missing_parent_directories(tmp_path: Path) -> None:
    """The Maildir is made even when the folders above it do not exist yet."""
    outbox = tmp_path / "state" / "deeper" / "outbox"
    results = await MaildirCapture(outbox).send(MAIL_FROM, ["ada@example.com"], CONTENT)
    assert results["ada@example.com"].verdict == "sent"
    assert len(list((outbox / "new").iterdir())) == 1


async def test_concurrent_captures_into_a_new_maildir_all_land(tmp_path: Path) -> None:
    """Deliveries racing to create the Maildir all succeed, one file each."""
    capture = MaildirCapture(tmp_path / "state" / "outbox")
    sends = [capture.send(MAIL_FROM, [f"u{n}@example.com"], CONTENT) for n in range(8)]
    results = await asyncio.gather(*sends)
    assert all(r[f"u{n}@example.com"].verdict == "sent" for n, r in enumerate(results))
    assert len(list((tmp_path / "state" / "outbox" / "new").iterdir())) == 8
