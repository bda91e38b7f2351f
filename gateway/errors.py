"""The exceptions Herald raises, and the decisions stages take.

Every error derives from ``GatewayError``. Real errors end in ``Error`` and
also inherit the matching built-in. ``Reject``, ``Defer`` and ``Drop`` are
decisions rather than faults: a stage raises one to stop the pipeline, and
the ingress turns it into the right reply (SMTP code or HTTP status). What each
one answers, on every way in, is written once: in ``gateway.decisions``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator


class GatewayError(Exception):
    """The root of everything Herald raises on purpose."""


class ConfigError(GatewayError, ValueError):
    """The configuration is invalid; the message names the file and key."""


class ListenError(GatewayError, OSError):
    """A listener could not open its address; the message names the address
    and the setting that chose it."""


class StoreError(GatewayError, OSError):
    """The store could not be read or written."""


class ConflictError(StoreError):
    """A write collided with a unique key (an idempotency key, say)."""


class StoreDataError(StoreError, ValueError):
    """The store refused a value itself (text it cannot hold, say): trying the
    same write again cannot cure it, so it is not the store's trouble."""


class LeaseLostError(StoreError):
    """A worker no longer holds the lease on a message: another may be sending it."""


class NotFoundError(GatewayError, LookupError):
    """A run, message or setting does not exist."""


class PrunedError(GatewayError, LookupError):
    """What was asked for is no longer kept: retention removed it."""


class InvalidInput(GatewayError, ValueError):
    """Input from an admin or a platform is invalid. ``field`` names it, as a
    JSON pointer into the request body (``#/address``) or a CLI option."""

    def __init__(self, field: str, detail: str) -> None:
        super().__init__(f"{field.removeprefix('#/')}: {detail}")
        self.field = field
        self.detail = detail
        self.errors: list[tuple[str, str]] = [(field, detail)]


class InvalidFields(InvalidInput):
    """Several fields are invalid; ``errors`` are (JSON pointer, detail) pairs,
    one for each, and the text names them all."""

    def __init__(self, errors: list[tuple[str, str]]) -> None:
        super().__init__(*errors[0])
        self.args = ("; ".join(f"{p.removeprefix('#/')}: {d}" for p, d in errors),)
        self.errors = errors


class Faults:
    """Collects what each field's check refuses, so that every bad field is
    named at once: ``with faults.check(): ...`` per field, then ``raise_any``."""

    def __init__(self) -> None:
        self.errors: list[tuple[str, str]] = []

    @contextlib.contextmanager
    def check(self) -> Iterator[None]:
        try:
            yield
        except InvalidInput as exc:
            self.errors.extend(exc.errors)

    def raise_any(self) -> None:
        if self.errors:
            raise InvalidFields(self.errors)


class InvalidEvent(InvalidInput):
    """The body is not a valid platform event; ``errors`` are (JSON pointer,
    detail) pairs, one for each bad field, in the order of the body."""

    def __init__(self, errors: list[tuple[str, str]]) -> None:
        super().__init__(*errors[0])
        # The text names every field with its pointer, not only the first.
        self.args = ("; ".join(f"{pointer}: {detail}" for pointer, detail in errors),)
        self.errors = errors


class BodyTooLarge(GatewayError, ValueError):
    """A request body is over its size limit of ``limit`` bytes."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the body is larger than {limit} bytes")
        self.limit = limit


class RateLimitedError(GatewayError):
    """Too many requests from one address wait their turn already."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many failed attempts; try again in {retry_after} seconds")
        self.retry_after = retry_after


class TemplateError(GatewayError, ValueError):
    """A template is missing, invalid, or needs a value the data lacks."""


class TemplateLimitError(TemplateError):
    """A template ran too long, grew too large, or is too big or deep to compile."""

    def __init__(self, message: str, lineno: int | None = None) -> None:
        super().__init__(message)
        self.lineno = lineno


class MalformedBodyError(GatewayError, ValueError):
    """A request body is not in the format it was sent as (HTTP 400);
    ``media`` names the format, the message where the body stops fitting it."""

    def __init__(self, detail: str, *, media: str) -> None:
        super().__init__(detail)
        self.media = media


class StageError(GatewayError, RuntimeError):
    """A stage crashed; the message it was building is failed, never sent."""


class Decision(GatewayError):
    """A stage's verdict on a message. ``field`` names the input at fault;
    ``errors`` (JSON pointer, detail) pairs, when given, name each of several."""

    def __init__(
        self,
        reason: str,
        *,
        field: str | None = None,
        errors: list[tuple[str, str]] | None = None,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.field = field
        self.errors = errors or []


class Reject(Decision):
    """Permanent refusal: SMTP 5xx, HTTP 422. Nothing is queued."""


class UnsafeHeader(Reject):
    """A header would carry a line break onto the wire, written or encoded:
    SMTP 550 5.6.0, HTTP 422. The message is refused at the queue's entrance."""


class NotAReport(Reject):
    """Mail to a bounce address that is not a delivery status notification
    (RFC 3464): SMTP 550 5.7.1; nothing is kept."""


class Defer(Decision):
    """Temporary refusal: SMTP 4xx, HTTP 503. The sender should try again."""


class Drop(Decision):
    """Accepted, deliberately not sent; the run records the reason."""


class Overloaded(Defer):
    """Herald has no room for more right now (queue depth or submissions at
    once over their limits): SMTP 451 4.3.1, HTTP 503 with Retry-After."""
