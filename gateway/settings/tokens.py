"""Admin API tokens: scopes, making a token, and the digest Herald keeps of it.

A token is 256 random bits, shown once when it is made; the store keeps only
its SHA-256 digest. A slow hash buys nothing for a secret that cannot be
guessed, and a plain digest lets Herald find the token by index.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from collections.abc import Iterable

from gateway.errors import InvalidInput
from gateway.store import AdminToken, new_id

PREFIX = "hrld_"
SCOPES: dict[str, str] = {
    "runs:read": "read runs, their recipients and history",
    "templates:manage": "read and change templates",
    "settings:manage": "read and change settings: senders, SMTP logins, definitions",
    "queue:operate": "operate the queue: retry, cancel, pause",
    "audit:read": "read the audit log",
}
# The configured or generated admin token: every scope.
ALL_SCOPES = tuple(SCOPES)
# The audit log's name for the admin token itself.
RESERVED = "admin-api"
_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", errors="surrogateescape")).hexdigest()


def check_scopes(scopes: Iterable[str]) -> tuple[str, ...]:
    chosen = sorted(set(scopes))
    if not chosen:
        raise InvalidInput("#/scopes", f"name at least one of {', '.join(SCOPES)}")
    for index, scope in enumerate(chosen):
        if scope not in SCOPES:
            raise InvalidInput(
                f"#/scopes/{index}", f"unknown scope {scope!r}; known: {', '.join(SCOPES)}"
            )
    return tuple(chosen)


def new_token(name: str, scopes: Iterable[str]) -> tuple[AdminToken, str]:
    """A token record and its secret; the secret is never stored."""
    if not _NAME.match(name):
        raise InvalidInput(
            "#/name", "must be 1 to 64 lower-case letters, digits or ._- and start with one"
        )
    if name == RESERVED:
        raise InvalidInput("#/name", f"{RESERVED!r} names the admin token; choose another name")
    record = AdminToken(
        id=new_id("tok"), name=name, scopes=check_scopes(scopes), created_at=time.time()
    )
    return record, PREFIX + secrets.token_urlsafe(32)
