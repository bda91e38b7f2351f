"""SMTP logins: the one place that checks a login's name, password and domains.

Clients outside ``[smtp] allow`` must authenticate with one of these; a login
MAY be limited to sender and recipient domains.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from gateway.addresses import check_header_text
from gateway.errors import InvalidInput
from gateway.settings.passwords import hash_password
from gateway.store import AccountStore, SMTPUser

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}$")
_DOMAIN = re.compile(
    r"^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$"
)
MIN_PASSWORD = 12


def check_name(name: str) -> str:
    if not _NAME.match(name):
        raise InvalidInput(
            "#/name", "must be 1 to 128 letters, digits or ._@+- and start with a letter or digit"
        )
    return name


def _domains(values: Iterable[object], field: str) -> tuple[str, ...]:
    domains = []
    for index, value in enumerate(values):
        domain = str(value).strip().lower().rstrip(".")
        if not isinstance(value, str) or not _DOMAIN.match(domain):
            raise InvalidInput(f"#/{field}/{index}", f"{value!r} is not a domain name")
        domains.append(domain)
    return tuple(sorted(set(domains)))


def smtp_user(
    name: str,
    password: str,
    sender_domains: Iterable[object] = (),
    recipient_domains: Iterable[object] = (),
) -> SMTPUser:
    """A validated login, its password hashed; ``InvalidInput`` names the bad field."""
    check_name(name)
    if not isinstance(password, str) or len(password) < MIN_PASSWORD:
        raise InvalidInput("#/password", f"must be at least {MIN_PASSWORD} characters")
    try:
        check_header_text(password, "the password")
    except ValueError as exc:
        raise InvalidInput("#/password", str(exc)) from exc
    return SMTPUser(
        name=name,
        password_hash=hash_password(password),
        sender_domains=_domains(sender_domains, "sender_domains"),
        recipient_domains=_domains(recipient_domains, "recipient_domains"),
    )


def domain_allowed(address: str, domains: tuple[str, ...]) -> bool:
    """Whether ``address`` is in one of ``domains`` (or a subdomain); empty allows all."""
    if not domains:
        return True
    domain = address.rpartition("@")[2].lower().rstrip(".")
    return any(domain == d or domain.endswith("." + d) for d in domains)


def describe(user: SMTPUser) -> dict[str, object]:
    """A login as the API and CLI show it: never its password hash."""
    return {
        "name": user.name,
        "sender_domains": list(user.sender_domains),
        "recipient_domains": list(user.recipient_domains),
    }


async def save(store: AccountStore, user: SMTPUser, *, actor: str) -> None:
    """Create or replace a login; the audit log shows its domains, never its hash."""
    await store.put_smtp_user(user, actor=actor)


async def remove(store: AccountStore, name: str, *, actor: str) -> None:
    """Remove a login; ``NotFoundError`` if unknown."""
    await store.delete_smtp_user(name, actor=actor)
