"""Slow password hashes (scrypt, RFC 7914) for the logins Herald keeps.

A hash reads ``scrypt$<log2 N>$<r>$<p>$<salt>$<digest>`` (base64), so the cost
can be raised later without breaking the hashes already stored.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from functools import cache

# RFC 7914 §2 and OWASP's guidance: N=2**15, r=8, p=1 costs ~32 MiB and tens
# of milliseconds, which is cheap for one login and slow for a guesser.
_LOG_N, _R, _P = 15, 8, 1
_LENGTH = 32


def _scrypt(password: str, salt: bytes, log_n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(
        password.encode("utf-8"),
        salt=salt,
        n=2**log_n,
        r=r,
        p=p,
        maxmem=2 * 128 * r * (2**log_n) + 1024 * 1024,
        dklen=_LENGTH,
    )


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = _scrypt(password, salt, _LOG_N, _R, _P)
    encode = base64.b64encode
    return f"scrypt${_LOG_N}${_R}${_P}${encode(salt).decode()}${encode(digest).decode()}"


@cache
def _decoy() -> str:
    # Checked when a login is unknown, so that a miss costs as long as a hit
    # and the time taken tells nothing about which names exist.
    return hash_password(secrets.token_urlsafe(16))


def verify_password(password: str, stored: str | None) -> bool:
    """Whether ``password`` matches ``stored``; ``None`` still costs one hash."""
    try:
        scheme, log_n, r, p, salt, digest = (stored or _decoy()).split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        actual = _scrypt(password, base64.b64decode(salt), int(log_n), int(r), int(p))
    except ValueError:
        return False
    return stored is not None and hmac.compare_digest(actual, expected)
