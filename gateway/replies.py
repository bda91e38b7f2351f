"""SMTP replies Herald sends, with their enhanced status codes (RFC 3463)."""

from __future__ import annotations

from enum import StrEnum


class Reply(StrEnum):
    # RFC 5321 §6.1: a 250 after DATA means the message is ours.
    QUEUED = "250 2.0.0 Ok: queued as {run_id}"
    DROPPED = "250 2.0.0 Ok: accepted, not relayed ({reason})"
    REJECTED = "550 5.7.1 {reason}"
    BAD_SYNTAX = "554 5.6.0 Message could not be parsed: {reason}"
    DEFERRED = "451 4.3.0 {reason}"
    # RFC 3463 §3.4: X.3.1 is "mail system full".
    QUEUE_FULL = "451 4.3.1 {reason}, try again later"
    # RFC 5321 §3.8: 421 closes the session; X.3.2 "system not accepting messages".
    TOO_BUSY = "421 4.3.2 Too many connections, try again later"
    STORE_UNAVAILABLE = "451 4.3.0 Message could not be stored, try again later"
    LOCAL_ERROR = "451 4.3.0 Local error in processing"
    BAD_RECIPIENT = "553 5.1.3 Recipient address is not valid"
    BAD_SENDER = "553 5.1.7 Sender address is not valid"

    def format_reply(self, **fields: str) -> str:
        """The reply line with its fields filled in, on one line."""
        text = self.value.format(**fields)
        # A reply is one line: a reason that carries CR or LF must not let
        # a caller inject a second reply (RFC 5321 §4.2).
        return " ".join(text.split())
