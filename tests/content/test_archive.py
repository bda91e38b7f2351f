"""Zips are AES-256 (WinZip method 99) with the given password, never ZipCrypto."""

from __future__ import annotations

import io
import zipfile

import pytest
import pyzipper

from gateway.content.archive import ArchiveError, zipped

FILES = [("INV-1.pdf", b"%PDF-1.4 tiny"), ("INV-1.csv", b"a,b\r\n1,2\r\n")]


def test_a_password_makes_an_aes_256_zip_that_only_it_opens() -> None:
    """Every entry uses method 99 with 256-bit keys; the right password reads it back."""
    data = zipped(FILES, password="s3cret")
    with zipfile.ZipFile(io.BytesIO(data)) as plain:
        assert {info.compress_type for info in plain.infolist()} == {99}
        assert all(info.flag_bits & 0x1 for info in plain.infolist())
    with pyzipper.AESZipFile(io.BytesIO(data)) as archive:
        assert archive.getinfo("INV-1.pdf").wz_aes_strength == 3  # 3 means AES-256
        archive.setpassword(b"s3cret")
        assert archive.read("INV-1.csv") == FILES[1][1]
        archive.setpassword(b"wrong")
        with pytest.raises(RuntimeError, match="Bad password"):
            archive.read("INV-1.csv")


def test_without_a_password_the_zip_is_plain() -> None:
    """A zip without a password is an ordinary deflated archive."""
    with zipfile.ZipFile(io.BytesIO(zipped(FILES, password=None))) as archive:
        assert archive.read("INV-1.pdf") == FILES[0][1]


def test_an_empty_password_is_refused() -> None:
    """A password template that renders empty never yields an unprotected zip."""
    with pytest.raises(ArchiveError, match="rendered empty"):
        zipped(FILES, password="")
