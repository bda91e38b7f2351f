"""The brand every email wears: name, logo, colours, footer, support, links.

``[brand]`` in the configuration gives the defaults; values saved over the
admin API or ``herald brand set`` live in the store and win over them. One
validator (``check``) serves the configuration, the API and the CLI, so a
colour can never carry CSS and a name can never carry a header break.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway.addresses import check_address, check_encoded_words, check_header_text
from gateway.errors import InvalidInput

DEFAULTS: Mapping[str, Any] = {
    "name": "Herald",
    "logo_url": "",
    "primary_color": "#2563eb",
    "background_color": "#f4f5f7",
    "text_color": "#1f2937",
    "footer": "",
    "support_email": "",
    "website": "",
    "links": [],
}

# Where the inline logo is referenced from the HTML (RFC 2392 cid: URL).
LOGO_CID = "logo@herald"
# The saved settings (gateway.store ``write_setting``) of the brand and its logo.
SETTING = "brand"
LOGO_SETTING = "brand/logo"
MAX_LOGO = 512 * 1024
_SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"\xff\xd8\xff", "jpeg"),
    (b"GIF87a", "gif"),
    (b"GIF89a", "gif"),
    (b"RIFF", "webp"),
)
_COLOR = re.compile(r"^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$")
_URL = re.compile(r"^https?://[^\s\"'<>]+$")


@dataclass(frozen=True)
class Logo:
    """An image that travels inside the message as a ``cid:`` part."""

    data: bytes
    subtype: str
    filename: str

    def as_json(self) -> dict[str, str]:
        return {
            "subtype": self.subtype,
            "filename": self.filename,
            "data": base64.b64encode(self.data).decode(),
        }

    @classmethod
    def from_json(cls, value: Mapping[str, str]) -> Logo:
        return cls(base64.b64decode(value["data"]), value["subtype"], value["filename"])


def logo_from_bytes(data: bytes, filename: str) -> Logo:
    """A logo from an image's bytes, its type told by its signature, not its
    name; ``ValueError`` saying what is wrong."""
    if not data or len(data) > MAX_LOGO:
        raise ValueError(f"the logo must be an image of 1 byte to {MAX_LOGO // 1024} KiB")
    subtype = next((kind for magic, kind in _SIGNATURES if data.startswith(magic)), None)
    if subtype == "webp" and data[8:12] != b"WEBP":
        subtype = None
    if subtype is None:
        raise ValueError("the logo must be a PNG, JPEG, GIF or WebP image")
    name = re.sub(r"[^A-Za-z0-9._-]", "_", Path(filename).name)[:64] or "logo"
    return Logo(data, subtype, name)


def load_logo(path: Path) -> Logo:
    """The image at ``path``; ``ValueError`` saying what is wrong with it."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ValueError(f"{path}: cannot be read ({exc.strerror or exc})") from exc
    try:
        return logo_from_bytes(data, path.name)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from exc


def check(values: Mapping[str, Any]) -> dict[str, Any]:
    """Validated brand values; ``InvalidInput`` names the first bad one.
    A None value is kept: it means "forget the saved value"."""
    checked: dict[str, Any] = {}
    for key, value in values.items():
        if key not in DEFAULTS:
            known = ", ".join(DEFAULTS)
            raise InvalidInput(f"#/{key}", f"is not a brand setting (known: {known})")
        checked[key] = value if value is None else _check(key, value)
    return checked


def _check(key: str, value: Any) -> Any:
    pointer = f"#/{key}"
    if key == "links":
        return _links(value, pointer)
    if not isinstance(value, str):
        raise InvalidInput(pointer, "must be a string")
    _decoded(value, pointer)
    if key.endswith("_color"):
        if not _COLOR.match(value):
            raise InvalidInput(pointer, "must be a hex colour such as #2563eb")
    elif key in ("logo_url", "website"):
        if value and not _URL.match(value):
            raise InvalidInput(pointer, "must be an http:// or https:// URL")
    elif key == "support_email":
        if value:
            try:
                check_address(value)
            except ValueError as exc:
                raise InvalidInput(pointer, str(exc)) from exc
    elif key == "name":
        try:
            check_header_text(value, "the name")
        except ValueError as exc:
            raise InvalidInput(pointer, str(exc)) from exc
        if not value.strip() or len(value) > 200:
            raise InvalidInput(pointer, "must be 1 to 200 characters")
    elif len(value) > 2000:
        raise InvalidInput(pointer, "must be at most 2000 characters")
    return value


def _decoded(value: str, pointer: str) -> None:
    """Every brand value may reach a subject through a template, and every
    email wears the brand: a line break hidden in an encoded word would break
    them all, so it is refused when the value is saved."""
    try:
        check_encoded_words(value, "the value")
    except ValueError as exc:
        raise InvalidInput(pointer, str(exc)) from exc


def _links(value: Any, pointer: str) -> list[dict[str, str]]:
    if not isinstance(value, list) or len(value) > 20:
        raise InvalidInput(pointer, "must be a list of at most 20 {label, url} tables")
    links = []
    for index, link in enumerate(value):
        where = f"{pointer}/{index}"
        if not isinstance(link, Mapping) or set(link) != {"label", "url"}:
            raise InvalidInput(where, "must have exactly a label and a url")
        label, url = link["label"], link["url"]
        if not isinstance(label, str) or not label.strip() or len(label) > 100:
            raise InvalidInput(f"{where}/label", "must be 1 to 100 characters")
        _decoded(label, f"{where}/label")
        if not isinstance(url, str) or not _URL.match(url):
            raise InvalidInput(f"{where}/url", "must be an http:// or https:// URL")
        _decoded(url, f"{where}/url")
        links.append({"label": label, "url": url})
    return links
