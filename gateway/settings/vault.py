"""Secrets at rest, and the keys Herald makes: the one module that imports
``cryptography``.

Secrets saved in the store (the upstream SMTP password) are sealed with
Fernet (AES-128-CBC and HMAC-SHA256) under a key kept beside the store, in
``<state_dir>/settings-key``, made readable by Herald's user only on first
use. A copy of the database alone reveals no secret; back up the key file
with the database, or set the passwords again after a restore.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import tempfile
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from gateway.errors import GatewayError


class SecretError(GatewayError, ValueError):
    """A sealed secret cannot be opened with the key file at hand."""


def new_signing_key(bits: int = 2048) -> tuple[str, bytes]:
    """A new RSA key for DKIM (RFC 8301 §3.2: at least 1024 bits, 2048
    advised): the private key as PKCS#1 PEM, the public key as the DER
    SubjectPublicKeyInfo that a DKIM TXT record carries (RFC 6376 §3.6.1)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode("ascii")
    public = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, public


class Vault:
    def __init__(self, key_file: Path) -> None:
        self.key_file = key_file
        self._fernet: Fernet | None = None

    def seal(self, secret: str) -> str:
        return self._key().encrypt(secret.encode()).decode("ascii")

    def open(self, sealed: str) -> str:
        try:
            return self._key().decrypt(sealed.encode("ascii")).decode()
        except (InvalidToken, ValueError) as exc:
            raise SecretError(
                f"a saved secret cannot be decrypted with {self.key_file}: the key file"
                " was replaced or lost; set the password again"
            ) from exc

    def derive(self, purpose: str) -> bytes:
        """A key of its own for ``purpose`` (bounce addresses, say), made from
        the settings key: every node with the same key file derives the same,
        and the settings key itself never leaves the vault."""
        return hmac.new(self._read_or_make(), f"herald:{purpose}".encode(), hashlib.sha256).digest()

    def _key(self) -> Fernet:
        if self._fernet is None:
            self._fernet = Fernet(self._read_or_make())
        return self._fernet

    def _read_or_make(self) -> bytes:
        try:
            return self.key_file.read_bytes().strip()
        except FileNotFoundError:
            pass
        self.key_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        # Written aside and linked into place, so that two processes making
        # the key at once both end up with the one that won.
        fd, temporary = tempfile.mkstemp(dir=self.key_file.parent, prefix=".settings-key-")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(Fernet.generate_key() + b"\n")
            with contextlib.suppress(FileExistsError):
                os.link(temporary, self.key_file)
        finally:
            os.unlink(temporary)
        return self.key_file.read_bytes().strip()
