"""DKIM signing (RFC 6376) on the way out: the one module that imports dkimpy.

A message whose From is at a domain with a key (``herald dkim keygen``) is
signed just before it leaves, by the queue and by test sends alike, with
relaxed/relaxed canonicalisation over the headers a reader sees and that
replies and unsubscribing depend on. A message from a domain without a key
goes as it is.
"""

from __future__ import annotations

import asyncio
import email.policy
import email.utils
from email.parser import BytesHeaderParser

import dkim
import structlog

from gateway.settings import dkim as dkim_keys
from gateway.settings.vault import Vault
from gateway.store import SettingsStore

log = structlog.get_logger(__name__)

# RFC 6376 §5.4.1: From must be signed; these are the others that matter to
# a reader, to threading and to unsubscribing. A header listed but absent is
# signed as absent, so none can be added on the way.
SIGNED_HEADERS = (
    b"from",
    b"to",
    b"cc",
    b"subject",
    b"date",
    b"message-id",
    b"reply-to",
    b"in-reply-to",
    b"references",
    b"mime-version",
    b"content-type",
    b"content-transfer-encoding",
    b"list-unsubscribe",
    b"list-unsubscribe-post",
)
CANONICALIZE = (b"relaxed", b"relaxed")


def from_domain(content: bytes) -> str | None:
    """The domain of the message's From address, lower-cased."""
    headers = BytesHeaderParser(policy=email.policy.compat32).parsebytes(content)
    _, address = email.utils.parseaddr(str(headers.get("From", "")))
    domain = address.rpartition("@")[2].lower()
    return domain or None


def signature(content: bytes, *, selector: str, domain: str, private_key: str) -> bytes:
    """The ``DKIM-Signature`` header line (CRLF-ended) for ``content``."""
    header: bytes = dkim.sign(
        content,
        selector.encode(),
        domain.encode(),
        private_key.encode(),
        canonicalize=CANONICALIZE,
        include_headers=list(SIGNED_HEADERS),
        linesep=b"\r\n",
    )
    return header


def verifies(content: bytes, txt_record: str) -> bool:
    """Whether ``content``'s signature holds against ``txt_record``, the value
    published for its selector (as a receiver checks it, without DNS)."""

    def lookup(name: bytes, timeout: int = 5) -> bytes:
        return txt_record.encode()

    return bool(dkim.verify(content, dnsfunc=lookup))


class Signer:
    """Signs with the key saved for the From domain. The keys are read once
    per saved version of the settings (``saved_version``, which a key saved
    or removed in any process moves), not at each message; with no key at
    all, a message is not even parsed."""

    def __init__(self, store: SettingsStore, vault: Vault) -> None:
        self.store = store
        self.vault = vault
        self._keys: dict[str, tuple[str, str]] = {}
        self._keys_at: int | None = None

    async def _in_force(self, version: int | None) -> dict[str, tuple[str, str]]:
        if version is None:
            version = await self.store.saved_version()
        # Keys read at a later version than ``version`` serve it too.
        if self._keys_at is None or version > self._keys_at:
            # Read after the version: what is read is at least as new.
            self._keys = await dkim_keys.signing_keys(self.store, self.vault)
            self._keys_at = version
        return self._keys

    async def sign(self, content: bytes, *, version: int | None = None) -> bytes:
        """``content`` signed for its From domain, if it has a key; ``version``
        is the store's ``saved_version`` as the delivery's claim read it."""
        keys = await self._in_force(version)
        if not keys:
            return content
        domain = from_domain(content)
        if domain is None or domain not in keys:
            return content
        selector, private_key = keys[domain]
        # Hashing a large message and the RSA operation take a while: off the loop.
        header = await asyncio.to_thread(
            signature, content, selector=selector, domain=domain, private_key=private_key
        )
        return header + content

    async def check(self, content: bytes) -> str | None:
        """For a test send: whether ``content`` is signed, and whether the
        signature holds against the key saved for its domain, in one sentence;
        None when its domain has no key."""
        domain = from_domain(content)
        key = next((k for k in await dkim_keys.keys(self.store) if k.domain == domain), None)
        if key is None:
            return None
        if await asyncio.to_thread(verifies, content, key.record_value):
            return f"DKIM: signed for {key.record_name}, verified against its key"
        return f"DKIM: signed for {key.record_name}, but the signature does not verify"
