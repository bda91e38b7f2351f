"""Tests for gateway/addresses.py: mailboxes and header text from outside input."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.addresses import check_address, check_header_text

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
