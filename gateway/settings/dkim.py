"""DKIM keys per sender domain, kept with the store's other secrets.

``herald dkim keygen DOMAIN`` makes an RSA key, saves it as the setting
``dkim/<domain>`` with the private key sealed by the vault (never shown,
logged or written to the audit log in clear), and prints the TXT record to
publish at ``<selector>._domainkey.<domain>``. ``gateway.queue.dkim`` signs
every message whose From is at that domain.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass

from gateway.addresses import check_address
from gateway.errors import InvalidInput, NotFoundError
from gateway.settings.vault import Vault, new_signing_key
from gateway.store import SettingsStore

SETTING = "dkim"
DEFAULT_SELECTOR = "herald"
# RFC 6376 §3.1: a selector is one or more DNS labels.
_SELECTOR = re.compile(
    r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$"
)
# RFC 1035 §3.3: one character-string of a TXT record holds at most 255 octets.
TXT_CHUNK = 255


@dataclass(frozen=True)
class DkimKey:
    """A domain's key as the faces show it: never the private half."""

    domain: str
    selector: str
    public_key: str  # base64 DER, the p= of the TXT record

    @property
    def record_name(self) -> str:
        return f"{self.selector}._domainkey.{self.domain}"

    @property
    def record_value(self) -> str:
        return f"v=DKIM1; k=rsa; p={self.public_key}"

    def zone_line(self) -> str:
        """The record as a zone file writes it, in strings of at most 255 octets."""
        value = self.record_value
        chunks = [value[i : i + TXT_CHUNK] for i in range(0, len(value), TXT_CHUNK)]
        return f'{self.record_name}. IN TXT ( "' + '" "'.join(chunks) + '" )'


def check_domain(value: str, field: str = "DOMAIN") -> str:
    domain = value.strip().lower().rstrip(".")
    try:
        check_address(f"dkim@{domain}", "the domain")
    except ValueError as exc:
        raise InvalidInput(
            field, f"expected a mail domain such as example.com, got {value!r}"
        ) from exc
    return domain


def check_selector(value: str, field: str = "--selector") -> str:
    selector = value.strip().lower()
    if not _SELECTOR.match(selector):
        raise InvalidInput(field, f"expected DNS labels such as herald or s2026, got {value!r}")
    return selector


def _key_setting(domain: str) -> str:
    return f"{SETTING}/{domain}"


async def keygen(
    store: SettingsStore,
    vault: Vault,
    domain: str,
    selector: str = DEFAULT_SELECTOR,
    *,
    actor: str,
    replace: bool = False,
) -> DkimKey:
    """Make and save a new key for ``domain``; ``InvalidInput`` when it has
    one and ``replace`` is not given (a new key needs a new record first)."""
    domain, selector = check_domain(domain), check_selector(selector)
    if not replace and _key_setting(domain) in await store.read_settings(_key_setting(domain)):
        raise InvalidInput("DOMAIN", f"{domain} has a DKIM key already; --replace makes a new one")
    private, public = new_signing_key()
    key = DkimKey(domain, selector, base64.b64encode(public).decode("ascii"))
    await store.write_setting(
        _key_setting(domain),
        {"selector": selector, "public_key": key.public_key, "private_key": vault.seal(private)},
        actor=actor,
        secret_fields=("private_key",),
    )
    return key


async def keys(store: SettingsStore) -> list[DkimKey]:
    saved = await store.read_settings(SETTING)
    return sorted(
        (
            DkimKey(name.removeprefix(f"{SETTING}/"), value["selector"], value["public_key"])
            for name, value in saved.items()
            if name != SETTING
        ),
        key=lambda key: key.domain,
    )


async def signing_keys(store: SettingsStore, vault: Vault) -> dict[str, tuple[str, str]]:
    """The selector and private key (PEM) of every domain that has a key, by domain."""
    saved = await store.read_settings(SETTING)
    return {
        name.removeprefix(f"{SETTING}/"): (
            str(value["selector"]),
            vault.open(str(value["private_key"])),
        )
        for name, value in saved.items()
        if name != SETTING
    }


async def remove(store: SettingsStore, domain: str, *, actor: str) -> None:
    domain = check_domain(domain)
    name = _key_setting(domain)
    if name not in await store.read_settings(name):
        raise NotFoundError(f"{domain} has no DKIM key")
    await store.write_setting(name, None, actor=actor, secret_fields=("private_key",))
