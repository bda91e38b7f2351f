"""Console users: roles, names, passwords and the optional TOTP second factor.

A role is a named set of the admin API's token scopes
(``gateway.settings.tokens.SCOPES``), so a role means the same in the
console, the API and the audit log. ``admin`` holds every scope and is the
only role that manages users and tokens; its address is the one "BCC to me"
sends to.
"""

from __future__ import annotations

import dataclasses
import hmac
import re
import time

import pyotp

from gateway.addresses import check_address
from gateway.errors import InvalidInput
from gateway.settings.passwords import hash_password, verify_password
from gateway.settings.tokens import ALL_SCOPES
from gateway.settings.vault import Vault
from gateway.store import ConsoleUser

ADMIN = "admin"
ROLES: dict[str, tuple[str, ...]] = {
    ADMIN: ALL_SCOPES,
    # The email texts and what became of the mail that used them.
    "templates": ("templates:manage", "runs:read", "audit:read"),
    # SMTP, senders, delivery policies, brand, customers and definitions:
    # everything the API serves under settings:manage.
    "settings": ("settings:manage", "runs:read", "audit:read"),
    # Runs and the queue: read them, retry, cancel, hold.
    "runs": ("runs:read", "queue:operate", "audit:read"),
    "read-only": ("runs:read", "audit:read"),
}
ROLE_TEXT: dict[str, str] = {
    ADMIN: "everything, users and tokens included",
    "templates": "email templates; reads runs and the audit log",
    "settings": "SMTP, senders, delivery, brand, customers, definitions; reads runs",
    "runs": "runs and the queue: retry, cancel, hold",
    "read-only": "reads runs and the audit log",
}
MIN_PASSWORD = 12
MAX_PASSWORD = 1024
_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
# RFC 6238 §5.2: one step either side absorbs a clock that is a little off.
_TOTP_WINDOW = 1


def scopes_of(role: str) -> tuple[str, ...]:
    return ROLES.get(role, ())


def check_name(name: str) -> str:
    if not _NAME.match(name):
        raise InvalidInput(
            "#/name", "must be 1 to 64 lower-case letters, digits or ._- and start with one"
        )
    return name


def check_role(role: str) -> str:
    if role not in ROLES:
        raise InvalidInput("#/role", f"unknown role {role!r}; known: {', '.join(ROLES)}")
    return role


def check_email(email: str) -> str:
    try:
        return check_address(email.strip(), "email")
    except ValueError as exc:
        raise InvalidInput("#/email", str(exc)) from None


def check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise InvalidInput("#/password", f"must be at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise InvalidInput("#/password", f"must be at most {MAX_PASSWORD} characters")
    return password


def new_user(name: str, email: str, role: str, password: str) -> ConsoleUser:
    """A user ready to keep, every field checked; ``InvalidInput`` names the first bad one."""
    return ConsoleUser(
        name=check_name(name),
        email=check_email(email),
        role=check_role(role),
        password_hash=hash_password(check_password(password)),
    )


def with_password(user: ConsoleUser, password: str) -> ConsoleUser:
    return dataclasses.replace(user, password_hash=hash_password(check_password(password)))


def disabled(user: ConsoleUser, off: bool = True) -> ConsoleUser:
    return dataclasses.replace(user, disabled_at=time.time() if off else None)


def password_matches(user: ConsoleUser | None, password: str) -> bool:
    """Whether ``password`` is ``user``'s; an unknown user costs one hash too."""
    return verify_password(password, user.password_hash if user else None)


def new_totp_secret() -> str:
    return pyotp.random_base32()


def totp_uri(user: ConsoleUser, secret: str) -> str:
    """The otpauth:// URI an authenticator app takes (as text or a QR code)."""
    return pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name="Herald")


def totp_step(secret: str, code: str, at: float | None = None) -> int | None:
    """The time step whose code ``code`` is, within a step of ``at`` (now);
    None when it is no such code."""
    code = code.strip().replace(" ", "")
    if len(code) != 6 or not code.isascii() or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret)
    now = time.time() if at is None else at
    for offset in range(-_TOTP_WINDOW, _TOTP_WINDOW + 1):
        moment = now + offset * totp.interval
        if hmac.compare_digest(totp.at(moment), code):
            return totp.timecode(moment)
    return None


def totp_matches(secret: str, code: str) -> bool:
    return totp_step(secret, code) is not None


def with_totp(user: ConsoleUser, vault: Vault, secret: str | None) -> ConsoleUser:
    return dataclasses.replace(user, totp_sealed=vault.seal(secret) if secret else None)
