"""RFC 2047 encoded words as an attacker writes them, for the header tests.

``payloads()`` draws a text (an injected header, a forged body, a bare NUL,
or something harmless), encodes it as one or more encoded words in Q or B,
cut at any byte, and writes them unfolded (one line) and folded (a word
per line). ``Payload.hostile`` is the oracle: whether the decoded text
carries a line break or NUL, and so must be refused wherever it goes.
"""

from __future__ import annotations

import base64
import itertools
import string
from dataclasses import dataclass

from hypothesis import strategies as st

# NUL and every line break str.splitlines knows.
BREAKS = "\r\n\x00\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
EVIL = "evil@evil.example"
INJECTIONS = (
    f"\r\nBcc: {EVIL}",
    f"\r\nReply-To: {EVIL}\r\n\r\nForged body",
    f"\nBcc: {EVIL}",
    f"\rBcc: {EVIL}",
    "\x00",
    f"\u2028Bcc: {EVIL}",
    f"\x85Bcc: {EVIL}",
    f"\x0bBcc: {EVIL}",
)
# Harmless text: letters (some beyond ASCII), digits, spaces and punctuation
# that means something in a header once decoded.
HARMLESS = st.text(
    alphabet=st.sampled_from(string.ascii_letters + string.digits + " .-'éöåß日本語:;,<>@\"()"),
    max_size=24,
)


def encode(data: bytes, encoding: str, charset: str = "utf-8") -> str:
    """One encoded word of ``data`` (RFC 2047 §4.1 B, §4.2 Q)."""
    if encoding == "b":
        text = base64.b64encode(data).decode("ascii")
    else:
        text = "".join(
            chr(byte) if chr(byte) in string.ascii_letters + string.digits else f"={byte:02X}"
            for byte in data
        )
    return f"=?{charset}?{encoding}?{text}?="


def words(text: str, encoding: str, cuts: list[int] | tuple[int, ...] = ()) -> list[str]:
    """``text`` in UTF-8 as encoded words, one per piece between the byte
    offsets ``cuts`` (a cut may fall inside a character)."""
    data = text.encode("utf-8")
    bounds = [0, *sorted({c for c in cuts if 0 < c < len(data)}), len(data)]
    return [encode(data[a:b], encoding) for a, b in itertools.pairwise(bounds)]


def hostile(text: str) -> bool:
    return any(char in BREAKS for char in text)


@dataclass(frozen=True)
class Payload:
    """Encoded words and what they decode to."""

    text: str
    encoding: str
    words: tuple[str, ...]

    @property
    def hostile(self) -> bool:
        """Whether the words decode to a line break or NUL."""
        return hostile(self.text)

    @property
    def unfolded(self) -> str:
        """The words on one line (RFC 2047 §6.2: the space between is not text)."""
        return " ".join(self.words)

    @property
    def folded(self) -> str:
        """The words one per line, as a long header is folded (RFC 5322 §2.2.3)."""
        return "\r\n ".join(self.words)

    @property
    def glued(self) -> str:
        """The words with nothing between, for fields that allow no space."""
        return "".join(self.words)


@st.composite
def payloads(draw: st.DrawFn, *, injections: tuple[str, ...] = INJECTIONS) -> Payload:
    """A harmless text or one carrying an injection, encoded in Q or B and
    cut into up to three words at any byte."""
    text = draw(HARMLESS)
    if draw(st.booleans()):
        at = draw(st.integers(0, len(text)))
        text = text[:at] + draw(st.sampled_from(injections)) + text[at:]
    encoding = draw(st.sampled_from(["q", "b"]))
    size = len(text.encode("utf-8"))
    cuts = draw(st.lists(st.integers(1, max(size - 1, 1)), max_size=2)) if size > 1 else []
    return Payload(text, encoding, tuple(words(text, encoding, cuts)))
