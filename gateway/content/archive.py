"""Zipping attachments: the one module that imports pyzipper.

Archives are encrypted with AES-256 (WinZip AES, compression method 99),
never the legacy ZipCrypto, which is broken. The password is used here and
nowhere kept.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import pyzipper

from gateway.errors import GatewayError


class ArchiveError(GatewayError, ValueError):
    """An archive could not be built (for example, an empty password)."""


def zipped(files: Sequence[tuple[str, bytes]], *, password: str | None) -> bytes:
    """A zip of ``files`` (name, content); AES-256 encrypted when ``password`` is given."""
    if password is not None and not password:
        raise ArchiveError("the zip password rendered empty")
    buffer = io.BytesIO()
    encryption = pyzipper.WZ_AES if password else None
    with pyzipper.AESZipFile(
        buffer, "w", compression=pyzipper.ZIP_DEFLATED, encryption=encryption
    ) as archive:
        if password:
            archive.setpassword(password.encode())
            archive.setencryption(pyzipper.WZ_AES, nbits=256)
        for name, content in files:
            archive.writestr(name, content)
    return buffer.getvalue()
