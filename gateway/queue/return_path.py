"""The return path of each message with ``[bounces]`` on (VERP):
``bounces+<message id>.<tag>@<domain>``, whose tag is an HMAC of the message
id under a key derived from the settings key, so that no one can make an
address that names a message Herald did not send (``gateway.queue.bounces``
reads what comes back to it)."""

from __future__ import annotations

import hmac
import re
from hashlib import sha256

from gateway.config import Config
from gateway.settings.smtp import vault_for

# Bytes of the HMAC kept in the address: 80 bits, as hex.
TAG_BYTES = 10
_MESSAGE_ID = re.compile(r"^msg_[0-9a-f]{22,24}$")


class ReturnPath:
    """Makes and reads the per-message bounce addresses."""

    def __init__(self, key: bytes, local_part: str, domain: str) -> None:
        self.key = key
        self.prefix = f"{local_part}+"
        self.domain = domain.lower()

    @classmethod
    def for_config(cls, config: Config) -> ReturnPath | None:
        """The return path ``[bounces]`` configures, or None while it is off."""
        settings = config.bounces
        if not settings.enabled:
            return None
        key = vault_for(config).derive("bounce-address")
        return cls(key, settings.local_part, settings.domain or config.hostname)

    def _tag(self, message_id: str) -> str:
        return hmac.new(self.key, message_id.encode(), sha256).hexdigest()[: TAG_BYTES * 2]

    def address_for(self, message_id: str) -> str:
        return f"{self.prefix}{message_id}.{self._tag(message_id)}@{self.domain}"

    def is_bounce_address(self, address: str) -> bool:
        """Whether ``address`` is of the bounce form, forged or not."""
        local, _, domain = address.rpartition("@")
        return domain.lower() == self.domain and local.lower().startswith(self.prefix)

    def message_of(self, address: str) -> str | None:
        """The message id a bounce address names, when its tag is Herald's own."""
        local = address.rpartition("@")[0].lower().removeprefix(self.prefix)
        message_id, _, tag = local.rpartition(".")
        if not _MESSAGE_ID.match(message_id):
            return None
        return message_id if hmac.compare_digest(tag, self._tag(message_id)) else None
