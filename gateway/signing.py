"""Standard Webhooks signatures: HMAC-SHA256 over ``id.timestamp.body``.

The webhook verifies the platform's signatures with ``verify``; failure
callbacks are signed with ``sign`` the same way, so a platform checks
Herald's with the code it signs its own with.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from collections.abc import Mapping, Sequence

from gateway.errors import GatewayError

TOLERANCE = 300  # seconds either way, as Standard Webhooks recommends
MAX_WEBHOOK_ID = 256
# Seconds since the epoch need 10 digits until the year 2286; past 20, a
# value is no time at all, and would not even fit the float it is compared as.
MAX_TIMESTAMP_DIGITS = 20


class SignatureError(GatewayError, ValueError):
    """The request carries no valid Standard Webhooks signature."""


def valid_delivery_id(msg_id: str) -> bool:
    """Whether ``msg_id`` can be a ``webhook-id``: printable text (so no line
    break, and no lone surrogate from bytes that were not UTF-8) of at most
    ``MAX_WEBHOOK_ID`` characters."""
    return len(msg_id) <= MAX_WEBHOOK_ID and msg_id.isprintable()


def _key(secret: str) -> bytes:
    if secret.startswith("whsec_"):
        try:
            return base64.b64decode(secret.removeprefix("whsec_"), validate=True)
        except binascii.Error:
            pass
    return secret.encode()


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` value for a message, as a sender computes it."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def verify(
    secrets: Sequence[str], headers: Mapping[str, str], body: bytes, *, now: float | None = None
) -> None:
    """Raise ``SignatureError`` unless one of ``secrets`` signed this request."""
    msg_id = headers.get("webhook-id", "")
    stamp = headers.get("webhook-timestamp", "")
    offered = headers.get("webhook-signature", "").split()
    if not (msg_id and stamp and offered):
        raise SignatureError("webhook-id, webhook-timestamp and webhook-signature are required")
    if not valid_delivery_id(msg_id):
        raise SignatureError(
            f"webhook-id must be printable and at most {MAX_WEBHOOK_ID} characters"
        )
    if not (stamp.isascii() and stamp.isdigit() and len(stamp) <= MAX_TIMESTAMP_DIGITS):
        raise SignatureError("webhook-timestamp must be whole seconds since the epoch")
    now = time.time() if now is None else now
    if abs(now - int(stamp)) > TOLERANCE:
        raise SignatureError("webhook-timestamp is more than 5 minutes away from now")
    # A signature is base64 text; anything else in the header (bytes that were
    # not UTF-8 arrive as lone surrogates) is compared as "?" and cannot match.
    candidates = [candidate.encode("ascii", "replace") for candidate in offered]
    for secret in secrets:
        expected = sign(secret, msg_id, int(stamp), body).encode()
        # Compare every candidate: stopping early would tell an attacker
        # how many signatures were wrong.
        if any(hmac.compare_digest(expected, candidate) for candidate in candidates):
            return
    raise SignatureError("no valid signature")
