"""SMTP replies Herald sends, with their enhanced status codes (RFC 3463)."""

from __future__ import annotations

from enum import StrEnum


class Reply(StrEnum):
    # RFC 5321 §6.1: a 250 after DATA means the message is ours.
    QUEUED = "250 2.0.0 Ok: queued as {run_id}"
    DROPPED = "250 2.0.0 Ok: accepted, not relayed ({reason})"
    REPORT_RECEIVED = "250 2.0.0 Ok: delivery status notification received"
    SENDER_OK = "250 2.1.0 Ok"
    RECIPIENT_OK = "250 2.1.5 Ok"
    REJECTED = "550 5.7.1 {reason}"
    # RFC 3463 §3.7: X.6.0 is a fault of the content itself, which no retry
    # can cure (a header that would break into two, say).
    UNSAFE_HEADER = "550 5.6.0 {reason}"
    BAD_SYNTAX = "554 5.6.0 Message could not be parsed: {reason}"
    DEFERRED = "451 4.3.0 {reason}"
    # RFC 3463 §3.4: X.3.1 is "mail system full".
    QUEUE_FULL = "451 4.3.1 {reason}, try again later"
    # RFC 5321 §3.8: 421 closes the session; X.3.2 "system not accepting messages".
    TOO_BUSY = "421 4.3.2 Too many connections, try again later"
    # X.7.0 "other security or policy status": this client's own share is used up.
    TOO_MANY_FROM_ADDRESS = "421 4.7.0 Too many connections from {address}, try again later"
    STORE_UNAVAILABLE = "451 4.3.0 Message could not be stored, try again later"
    LOCAL_ERROR = "451 4.3.0 Local error in processing"
    # A stage crashed: Herald's fault, recorded as a failed run the client
    # can look up (gateway.decisions says why this is 451 and not 5yz).
    STAGE_FAILED = "451 4.3.0 Local error in processing, run {run_id} failed"
    # RFC 3463 §3.7: the content holds what Herald's store cannot keep.
    UNSTORABLE = "554 5.6.0 Message holds what Herald cannot store"
    # RFC 3463 §3.4: X.3.4 "message too big for system".
    TOO_BIG = "552 5.3.4 Message too big for Herald"
    # RFC 4954 §6: 454 4.7.0 is a temporary authentication failure.
    RATE_LIMITED = "454 4.7.0 Too many failed attempts, try again later"
    BAD_RECIPIENT = "553 5.1.3 Recipient address is not valid"
    # RFC 3463 §3.2: X.1.1, no such mailbox: a bounce address Herald never made.
    UNKNOWN_BOUNCE_ADDRESS = "550 5.1.1 No such bounce address"
    # A bounce address takes only delivery status notifications (RFC 3464),
    # and a transaction either reports a bounce or carries mail, not both.
    NOT_A_REPORT = "550 5.7.1 This address takes only delivery status notifications: {reason}"
    BOUNCE_ALONE = "452 4.5.3 Send the delivery status notification in a transaction of its own"
    BAD_SENDER = "553 5.1.7 Sender address is not valid"
    # RFC 4954 §6: a client outside the allowed networks must log in first.
    AUTH_REQUIRED = "530 5.7.0 Authentication required"
    # Defence in depth: RCPT without a permitted MAIL is never relayed.
    RELAY_DENIED = "554 5.7.1 Relay access denied"
    AUTH_OK = "235 2.7.0 Authentication successful"
    AUTH_FAILED = "535 5.7.8 Authentication credentials invalid"
    AUTH_MALFORMED = "501 5.5.2 Cannot decode the credentials"
    SENDER_NOT_ALLOWED = "550 5.7.1 This login may not send from {domain}"
    RECIPIENT_NOT_ALLOWED = "550 5.7.1 This login may not relay to {domain}"
    # RFC 5321 §4.5.3.1.10: too many recipients is a temporary 452.
    TOO_MANY_RECIPIENTS = "452 4.5.3 Too many recipients, send the rest in another message"
    # RFC 5321 §4.5.3.2.7 lets a server close an idle session; §3.8 says with a 421.
    IDLE_TIMEOUT = "421 4.4.2 {hostname} Idle for too long, closing connection"
    # A client that has not begun a transaction in [smtp] pre_mail_timeout.
    NO_MAIL_IN_TIME = "421 4.4.2 {hostname} No MAIL FROM in time, closing connection"

    def format_reply(self, **fields: str) -> str:
        """The reply line with its fields filled in, on one line."""
        text = self.value.format(**fields)
        # A reply is one line: a reason that carries CR or LF must not let
        # a caller inject a second reply (RFC 5321 §4.2).
        return " ".join(text.split())
