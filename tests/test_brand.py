"""Tests for gateway/brand.py: brand values and logo images, checked before use."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway import brand, config
from gateway.errors import ConfigError, InvalidInput
from tests.encoded_words import EVIL, encode

LOGO = Path(__file__).resolve().parent / "fixtures" / "logo.png"


def test_logo_type_comes_from_its_bytes_not_its_name(tmp_path: Path) -> None:
    """A PNG named .jpg is still a PNG; a text file named .png is refused."""
    renamed = tmp_path / "logo.jpg"
    renamed.write_bytes(LOGO.read_bytes())
    assert brand.load_logo(renamed).subtype == "png"
    fake = tmp_path / "fake.png"
    fake.write_text("<svg/>", encoding="utf-8")
    with pytest.raises(ValueError, match="must be a PNG, JPEG, GIF or WebP image"):
        brand.load_logo(fake)


def test_logo_round_trips_through_json() -> None:
    """A saved logo comes back byte for byte, its file name made safe."""
    logo = brand.logo_from_bytes(LOGO.read_bytes(), "../../etc/my logo.png")
    assert logo.filename == "my_logo.png"
    assert brand.Logo.from_json(logo.as_json()) == logo


def test_oversized_logo_is_refused() -> None:
    """A logo over 512 KiB would bloat every email, so it is refused."""
    with pytest.raises(ValueError, match="512 KiB"):
        brand.logo_from_bytes(b"\x89PNG\r\n\x1a\n" + bytes(brand.MAX_LOGO), "big.png")


@pytest.mark.parametrize(
    ("values", "pointer"),
    [
        ({"text_color": "#12345"}, "#/text_color"),
        ({"website": "ftp://x"}, "#/website"),
        ({"support_email": "help"}, "#/support_email"),
        ({"links": [{"label": "x"}]}, "#/links/0"),
        ({"footer": "x" * 2001}, "#/footer"),
    ],
)
def test_check_names_the_bad_value(values: dict[str, object], pointer: str) -> None:
    """Each bad value is refused with a pointer to it."""
    with pytest.raises(InvalidInput) as caught:
        brand.check(values)
    assert caught.value.field == pointer


def test_configuration_errors_name_the_brand_key(tmp_path: Path) -> None:
    """[brand] values and logo_file are checked at start-up, naming the key."""
    path = tmp_path / "herald.toml"
    path.write_text('[brand]\nprimary_color = "blue"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"\[brand\] primary_color: must be a hex colour"):
        config.load(path, env={})
    path.write_text(f'[brand]\nlogo_file = "{tmp_path / "none.png"}"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"\[brand\] logo_file: .*cannot be read"):
        config.load(path, env={})


@pytest.mark.parametrize(
    ("values", "pointer"),
    [
        ({"name": f"=?utf-8?q?Acme=0D=0ABcc:_{EVIL}?="}, "#/name"),
        ({"name": encode(f"Acme\r\nBcc: {EVIL}".encode(), "b")}, "#/name"),
        ({"footer": f"Acme B.V.\n=?utf-8?q?=0D=0ABcc:_{EVIL}?="}, "#/footer"),
        ({"support_email": "=?utf-8?q?=0D=0A?=@acme.example"}, "#/support_email"),
        ({"website": "https://acme.example/=?utf-8?q?=0D=0A?="}, "#/website"),
        (
            {"links": [{"label": "=?utf-8?q?=0A?=", "url": "https://acme.example"}]},
            "#/links/0/label",
        ),
        (
            {"links": [{"label": "Help", "url": "https://a.example/=?utf-8?q?=0A?="}]},
            "#/links/0/url",
        ),
    ],
)
def test_a_break_hidden_in_an_encoded_word_is_refused_in_every_value(
    values: dict[str, object], pointer: str
) -> None:
    """Every email wears the brand and a template may put any value in a subject,
    so no brand text may hide a line break in an encoded word."""
    with pytest.raises(InvalidInput, match="encoded word") as caught:
        brand.check(values)
    assert caught.value.field == pointer


def test_a_footer_keeps_its_own_line_breaks() -> None:
    """A footer may span lines; the check is on what encoded words decode to."""
    assert brand.check({"footer": "Acme B.V.\nKeizersgracht 1"}) == {
        "footer": "Acme B.V.\nKeizersgracht 1"
    }
