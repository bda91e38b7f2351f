"""Tests for gateway/addresses.py: mailboxes and header text from outside input."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.addresses import check_address, check_encoded_words, check_header_text
from tests.encoded_words import EVIL, Payload, payloads

# A 254-octet mailbox: the longest RFC 5321 §4.5.3.1.3 allows.
LONGEST = "a" * 64 + "@" + ("b" * 63 + ".") * 2 + "c" * 61


@pytest.mark.parametrize(
    "address",
    [
        "ada@example.com",
        "Ada.Lovelace@Example.COM",
        "first.last+tag@sub.example.co.uk",
        "o'brien@example.com",
        "user_name-1@mail-server.example",
        "x@localhost",
        "ops@[192.0.2.1]",
        "ops@[2001:db8::1]",
        "!#$%&'*+/=?^_`{|}~-@example.com",
        LONGEST,
    ],
)
def test_valid_addresses_are_returned_unchanged(address: str) -> None:
    """A plain local@domain mailbox passes and comes back exactly as given."""
    assert check_address(address) == address


@pytest.mark.parametrize(
    "address",
    [
        "",
        "ada",
        "ada@",
        "@example.com",
        "ada@@example.com",
        "ada@example@com",
        "ada lovelace@example.com",
        "ada@exa mple.com",
        ".ada@example.com",
        "ada.@example.com",
        "ada..lovelace@example.com",
        "ada@-example.com",
        "ada@example-.com",
        "ada@example..com",
        "ada@.example.com",
        '"ada"@example.com',
        "<ada@example.com>",
        "Ada <ada@example.com>",
        "ada@example.com, bob@example.com",
        "ädä@example.com",
        "ada@exämple.com",
        LONGEST + "c",
    ],
)
def test_invalid_addresses_are_refused(address: str) -> None:
    """Anything but a plain dot-atom mailbox of at most 254 octets is a ValueError."""
    with pytest.raises(ValueError, match="is not a valid email address"):
        check_address(address)


@pytest.mark.parametrize(
    "address",
    [
        "ada@example.com\n",
        "ada@example.com\r\nBcc: victim@example.com",
        "ada@example.com\rx",
        "ada\x00@example.com",
        "\nada@example.com",
    ],
)
def test_addresses_with_line_breaks_or_nul_are_refused(address: str) -> None:
    """CR, LF and NUL are refused even where the rest would be a valid mailbox."""
    with pytest.raises(ValueError, match="must not contain CR, LF or NUL"):
        check_address(address)


def test_error_names_what_was_checked() -> None:
    """The error message starts with the caller's description of the value."""
    with pytest.raises(ValueError, match=r"^the sender 'nobody' is not a valid email address$"):
        check_address("nobody", "the sender")
    with pytest.raises(ValueError, match=r"^the name must not contain CR, LF or NUL$"):
        check_header_text("a\nb", "the name")


@pytest.mark.parametrize(
    "text", ["Ada Lovelace", "Zoë Ångström", "Invoice #42: 58.80 USD", "tab\tinside", "", "日本語"]
)
def test_header_text_without_line_breaks_passes(text: str) -> None:
    """Text with no CR, LF or NUL is safe in a header and comes back unchanged."""
    assert check_header_text(text) == text


@pytest.mark.parametrize("text", ["Ada\r\nBcc: x@example.com", "line\n", "\rx", "nul\x00"])
def test_header_text_with_line_breaks_is_refused(text: str) -> None:
    """CR, LF or NUL anywhere in header text is a ValueError."""
    with pytest.raises(ValueError, match="must not contain CR, LF or NUL"):
        check_header_text(text)


with_forbidden = st.builds(
    lambda before, bad, after: before + bad + after,
    st.text(max_size=40),
    st.sampled_from(["\r", "\n", "\x00", "\r\n"]),
    st.text(max_size=40),
)


@given(with_forbidden)
def test_any_text_with_cr_lf_or_nul_is_refused_by_both(text: str) -> None:
    """Whatever surrounds it, a CR, LF or NUL makes both checks raise ValueError."""
    with pytest.raises(ValueError, match="must not contain CR, LF or NUL"):
        check_header_text(text)
    with pytest.raises(ValueError, match="must not contain CR, LF or NUL"):
        check_address(text)


LINE_BREAKS = "\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"


@given(st.text(alphabet=st.characters(exclude_characters=LINE_BREAKS + "\x00"), max_size=80))
def test_any_text_without_line_breaks_or_nul_is_header_safe(text: str) -> None:
    """Text free of NUL and of every line break str.splitlines knows passes unchanged."""
    assert check_header_text(text) == text


@pytest.mark.parametrize("char", list(LINE_BREAKS[2:]))
def test_unicode_line_breaks_are_refused(char: str) -> None:
    """NEL, LS, PS and the other breaks the email package refuses in headers are refused too."""
    with pytest.raises(ValueError, match="must not contain line breaks"):
        check_header_text(f"Ada{char}Bcc: eve@example.com", "the name")


@given(st.text(max_size=80))
def test_accepted_addresses_are_single_line_mailboxes(text: str) -> None:
    """Whatever check_address accepts has exactly one '@' before a domain and no whitespace."""
    try:
        accepted = check_address(text)
    except ValueError:
        return
    assert accepted.count("@") == 1
    local, _, domain = accepted.partition("@")
    assert local
    assert domain
    assert not any(c.isspace() for c in accepted)
    assert len(accepted) <= 254


@given(st.emails())
def test_generated_mailboxes_are_accepted(address: str) -> None:
    """Every dot-atom address hypothesis generates (RFC 5322 addr-spec) passes unchanged."""
    assert check_address(address) == address


# Line breaks hidden in RFC 2047 encoded words


@pytest.mark.parametrize(
    "text",
    [
        # The report's examples: a display name and a Reply-To with a forged body.
        f"=?utf-8?q?Ada=0D=0ABcc:_{EVIL}?=",
        f"=?utf-8?q?Ada=0D=0AReply-To:_{EVIL}=0D=0A=0D=0AForged?=",
        f"Ada =?UTF-8?B?{base64.b64encode(f'x{chr(13)}{chr(10)}Bcc: {EVIL}'.encode()).decode()}?=",
        # Lower-case hex, a language tag (RFC 2231 §5), a NUL, a lone LF.
        "=?utf-8*en?q?a=0d=0ab?=",
        "=?us-ascii?q?nul=00?=",
        "=?iso-8859-1?Q?line=0Afeed?=",
        # Inside a quoted display name, glued to other text, inside a bogus word.
        f'"=?utf-8?q?Ada=0D=0ABcc:_{EVIL}?=" <ada@example.com>',
        "Ada=?utf-8?q?=0D=0A?=Lovelace",
        "=?x?q?=?utf-8?q?=0D=0A?=",
        # B with its padding in the middle, or without any.
        "=?utf-8?b?WA==DQo=?=",
        "=?utf-8?b?DQo?=",
        # A character cut across two words (RFC 2047 §6.2): U+2028 and NEL.
        "=?utf-8?q?=E2=80?= =?utf-8?q?=A8?=",
        "=?utf-8?b?wg==?=\t=?utf-8?b?hQ==?=",
        # Charsets that are not ASCII-compatible, and escapes a codec decodes.
        "=?utf-7?q?+AA0-?=",
        "=?unicode_escape?q?\\r\\n?=",
        "=?utf-16?b?" + base64.b64encode("\r\n".encode("utf-16")).decode() + "?=",
        # A word whose decoded text is another encoded word.
        "=?utf-8?q?=3D=3Futf-8=3Fq=3F=3D0D=3D0A=3F=3D?=",
        # A charset Python does not know: its bytes, as Latin-1.
        "=?x-unknown?q?=85?=",
    ],
)
def test_encoded_line_breaks_are_refused(text: str) -> None:
    """A CR, LF, NUL or other break that an encoded word decodes to is refused,
    wherever the word stands and however it is written."""
    with pytest.raises(ValueError, match=r"encoded word in it decodes to one"):
        check_header_text(text, "the name")
    with pytest.raises(ValueError, match=r"encoded word in it decodes to one"):
        check_encoded_words(text, "the name")


@pytest.mark.parametrize(
    "text",
    [
        "=?utf-8?q?Zo=C3=AB_=C3=85ngstr=C3=B6m?=",
        "=?ISO-8859-1?Q?Caf=E9?= au lait",
        "=?utf-8?b?5pel5pys6Kqe?=",
        # Windows-1252 0x85 is an ellipsis, not NEL.
        "=?windows-1252?q?wait=85?=",
        "plain =? text ?= with marks",
        "=?utf-8?q?unterminated",
        "a=?b",
    ],
)
def test_harmless_encoded_words_pass(text: str) -> None:
    """Encoded words that decode to ordinary text, and text that only looks
    like one, are header-safe and come back unchanged."""
    assert check_header_text(text) == text


def test_decoded_refusals_name_what_was_checked() -> None:
    """The error starts with the caller's description and says the break was encoded."""
    with pytest.raises(
        ValueError,
        match=r"^the name must not contain CR, LF or NUL \(an RFC 2047 encoded word in it "
        r"decodes to one\)$",
    ):
        check_header_text("=?utf-8?q?=0A?=", "the name")
    with pytest.raises(ValueError, match=r"^the name must not contain line breaks \(an RFC 2047"):
        check_header_text("=?utf-8?q?=E2=80=A8?=", "the name")


def test_check_encoded_words_lets_plain_line_breaks_through() -> None:
    """Text meant to span lines (a footer) keeps its own breaks; only encoded ones are refused."""
    assert check_encoded_words("Acme B.V.\nKeizersgracht 1\r\n", "the footer")
    with pytest.raises(ValueError, match="encoded word"):
        check_encoded_words("Acme B.V.\n=?utf-8?q?=0D=0ABcc:_x@y.example?=", "the footer")


def test_overlapping_words_cannot_make_the_check_quadratic() -> None:
    """Text made of thousands of overlapping would-be words is refused as too
    many to check, rather than decoded once per overlap."""
    text = "=?a?q?x" * 20_000 + "?="
    with pytest.raises(ValueError, match="more RFC 2047 encoded words than can be checked"):
        check_header_text(text, "the subject")


@given(payloads())
def test_encoded_words_are_refused_exactly_when_they_decode_to_a_break(payload: Payload) -> None:
    """Any text, in Q or B, cut into words at any byte, unfolded or glued: the
    check refuses it exactly when the text carries a line break or NUL."""
    for written in (payload.unfolded, payload.glued):
        if payload.hostile:
            with pytest.raises(ValueError, match="encoded word"):
                check_header_text(written)
        else:
            assert check_header_text(written) == written


@given(payloads())
def test_folded_encoded_words_are_refused_exactly_when_they_decode_to_a_break(
    payload: Payload,
) -> None:
    """Folded across lines (a footer, a body), the words are still decoded and judged."""
    if payload.hostile:
        with pytest.raises(ValueError, match="encoded word"):
            check_encoded_words(payload.folded)
    else:
        assert check_encoded_words(payload.folded) == payload.folded


@pytest.mark.parametrize(
    "address", ["=?utf-8?q?ada?=@example.com", "a.=?utf-8?b?YWRh?=@example.com"]
)
def test_an_address_holding_an_encoded_word_is_refused(address: str) -> None:
    """RFC 2047 §5: no encoded word in an addr-spec, however harmless it decodes."""
    with pytest.raises(ValueError, match=r"not a valid email address \(it holds an encoded word\)"):
        check_address(address)
