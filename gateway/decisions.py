"""What each decision and error answers, on every way in: one table.

A stage's decision, or an error Herald raises, reaches whoever sent the
message as an SMTP reply on the listener and as an RFC 9457 problem on the
webhook and the admin API. Both answers come from the one row of ``ANSWERS``
for the exception's class, found along its method resolution order, so a
subclass answers as its nearest listed ancestor and the ways in cannot
disagree.

The rule behind the rows: a 4xx HTTP status and a 5yz reply for what no retry
can cure (the input is at fault); 503 and 4yz with a Retry-After for what a
retry can cure (Herald is busy, or its store is away); and, for a fault of
Herald's own, HTTP 500 with SMTP 451 4.3.0.

A crashed stage (``StageError``) is such a fault. Its run is recorded as
failed, and without an idempotency key, so a retry goes through the pipeline
again; whether that helps depends on what crashed, which Herald cannot know.
HTTP 500 says exactly that (RFC 9110 §15.6.1: "an unexpected condition"),
and 503 would promise more (§15.6.4: a condition "likely to be alleviated
after some delay"). SMTP has no code for "my fault, maybe lasting": a 5yz
would tell the client to give the message up for a fault not its own, so it
gets 451, "local error in processing" (RFC 5321 §4.2.3), whose 4yz lets the
client decide when to retry, as a webhook platform does after a 500.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from http import HTTPStatus

from gateway.errors import (
    BodyTooLarge,
    ConflictError,
    Decision,
    Defer,
    Drop,
    InvalidEvent,
    InvalidInput,
    MalformedBodyError,
    NotAReport,
    NotFoundError,
    Overloaded,
    PrunedError,
    RateLimitedError,
    Reject,
    StageError,
    StoreDataError,
    StoreError,
    TemplateError,
    TemplateLimitError,
    UnsafeHeader,
)
from gateway.json_input import UnsupportedMediaTypeError
from gateway.replies import Reply
from gateway.signing import SignatureError


class ProblemType(StrEnum):
    """Every kind of problem Herald answers with; its ``uri`` is the problem's ``type``."""

    BODY_TOO_LARGE = "body-too-large"
    CONFLICT = "conflict"
    DEFERRED = "deferred"
    FORBIDDEN = "forbidden"
    INVALID_EVENT = "invalid-event"
    INVALID_FIELD = "invalid-field"
    INVALID_HEADER = "invalid-header"
    INVALID_QUERY = "invalid-query"
    INVALID_SIGNATURE = "invalid-signature"
    INVALID_URL = "invalid-url"
    MALFORMED_BODY = "malformed-body"
    NOT_FOUND = "not-found"
    PRUNED = "pruned"
    QUEUE_FULL = "queue-full"
    RATE_LIMITED = "rate-limited"
    REJECTED = "rejected"
    STAGE_FAILED = "stage-failed"
    STORE_TROUBLE = "store-trouble"
    STORE_UNAVAILABLE = "store-unavailable"
    TEMPLATE_FAILED = "template-failed"
    UNAUTHORIZED = "unauthorized"
    UNSTORABLE = "unstorable"
    UNSUPPORTED_MEDIA_TYPE = "unsupported-media-type"

    @property
    def uri(self) -> str:
        """The problem's ``type`` member (RFC 9457 §3.1.1)."""
        return f"urn:herald:problem:{self.value}"


@dataclass(frozen=True)
class Answer:
    """One row: the HTTP status, problem type and SMTP reply for a decision or
    error, the seconds to send as Retry-After, and the problem's ``detail``
    (a format string of ``error``, the exception)."""

    status: HTTPStatus
    problem: ProblemType | None
    reply: Reply
    retry_after: int | None = None
    detail: str = "{error}"

    def detail_of(self, error: BaseException) -> str:
        """The problem's ``detail`` for ``error``."""
        return self.detail.format(error=error)

    def retry_after_of(self, error: BaseException) -> int | None:
        """Seconds to wait before a retry: the error's own count when it has
        one (a rate limit knows when its window opens), else the row's."""
        own = getattr(error, "retry_after", None)
        return own if isinstance(own, int) else self.retry_after


#: Seconds a platform should wait when the queue is full or intake is busy.
OVERLOADED_RETRY_AFTER = 30
#: Seconds a platform should wait when a stage defers the message.
DEFERRED_RETRY_AFTER = 60
#: Seconds a platform should wait when the store cannot take a write.
STORE_RETRY_AFTER = 30

_UNPROCESSABLE = HTTPStatus.UNPROCESSABLE_ENTITY

ANSWERS: Mapping[type[BaseException], Answer] = {
    # The stages' decisions (gateway.errors): the pipeline's verdicts.
    Reject: Answer(_UNPROCESSABLE, ProblemType.REJECTED, Reply.REJECTED),
    UnsafeHeader: Answer(_UNPROCESSABLE, ProblemType.REJECTED, Reply.UNSAFE_HEADER),
    NotAReport: Answer(_UNPROCESSABLE, ProblemType.REJECTED, Reply.NOT_A_REPORT),
    Defer: Answer(
        HTTPStatus.SERVICE_UNAVAILABLE,
        ProblemType.DEFERRED,
        Reply.DEFERRED,
        retry_after=DEFERRED_RETRY_AFTER,
    ),
    Overloaded: Answer(
        HTTPStatus.SERVICE_UNAVAILABLE,
        ProblemType.QUEUE_FULL,
        Reply.QUEUE_FULL,
        retry_after=OVERLOADED_RETRY_AFTER,
        detail="{error}; try again later",
    ),
    # A dropped message is accepted (RFC 5321 §6.1): it is not an error, and
    # the webhook's answer is its ordinary 202.
    Drop: Answer(HTTPStatus.ACCEPTED, None, Reply.DROPPED),
    StageError: Answer(
        HTTPStatus.INTERNAL_SERVER_ERROR, ProblemType.STAGE_FAILED, Reply.STAGE_FAILED
    ),
    # The store: away is a retry's to cure, a value it refuses is not.
    StoreError: Answer(
        HTTPStatus.SERVICE_UNAVAILABLE,
        ProblemType.STORE_UNAVAILABLE,
        Reply.STORE_UNAVAILABLE,
        retry_after=STORE_RETRY_AFTER,
        detail="the store could not take the write; try again",
    ),
    StoreDataError: Answer(
        _UNPROCESSABLE,
        ProblemType.UNSTORABLE,
        Reply.UNSTORABLE,
        detail="the store cannot keep a value of this request",
    ),
    ConflictError: Answer(HTTPStatus.CONFLICT, ProblemType.CONFLICT, Reply.REJECTED),
    # Input from an admin or a platform.
    InvalidInput: Answer(_UNPROCESSABLE, ProblemType.INVALID_FIELD, Reply.REJECTED),
    InvalidEvent: Answer(
        _UNPROCESSABLE,
        ProblemType.INVALID_EVENT,
        Reply.REJECTED,
        detail="the event is invalid: {error}",
    ),
    MalformedBodyError: Answer(
        HTTPStatus.BAD_REQUEST,
        ProblemType.MALFORMED_BODY,
        Reply.BAD_SYNTAX,
        detail="the body is not valid {error.media}: {error}",
    ),
    UnsupportedMediaTypeError: Answer(
        HTTPStatus.UNSUPPORTED_MEDIA_TYPE, ProblemType.UNSUPPORTED_MEDIA_TYPE, Reply.BAD_SYNTAX
    ),
    BodyTooLarge: Answer(
        HTTPStatus.REQUEST_ENTITY_TOO_LARGE, ProblemType.BODY_TOO_LARGE, Reply.TOO_BIG
    ),
    NotFoundError: Answer(HTTPStatus.NOT_FOUND, ProblemType.NOT_FOUND, Reply.REJECTED),
    # Retention removed it: gone for good (RFC 9110 §15.5.11), no retry brings it back.
    PrunedError: Answer(HTTPStatus.GONE, ProblemType.PRUNED, Reply.REJECTED),
    TemplateError: Answer(_UNPROCESSABLE, ProblemType.TEMPLATE_FAILED, Reply.REJECTED),
    # A limit is the template's own, whatever the load: no retry cures it.
    TemplateLimitError: Answer(_UNPROCESSABLE, ProblemType.TEMPLATE_FAILED, Reply.REJECTED),
    # Who is asking.
    SignatureError: Answer(
        HTTPStatus.UNAUTHORIZED, ProblemType.INVALID_SIGNATURE, Reply.AUTH_FAILED
    ),
    RateLimitedError: Answer(
        HTTPStatus.TOO_MANY_REQUESTS, ProblemType.RATE_LIMITED, Reply.RATE_LIMITED
    ),
}

#: The answer to anything without a row: a fault of Herald's own, whose
#: details stay in its log.
FAULT = Answer(
    HTTPStatus.INTERNAL_SERVER_ERROR,
    None,
    Reply.LOCAL_ERROR,
    detail="Herald failed to handle this request; the error is in its log.",
)


def answer(error: BaseException | type[BaseException]) -> Answer:
    """The row for ``error`` (an exception or its class): its own, else its
    nearest listed ancestor's, else ``FAULT``."""
    kind = error if isinstance(error, type) else type(error)
    for ancestor in kind.__mro__:
        row = ANSWERS.get(ancestor)
        if row is not None:
            return row
    return FAULT


def reply(error: BaseException, *, run_id: str = "") -> str:
    """The SMTP reply line for ``error``: a decision's reason, or the run that failed."""
    reason = error.reason if isinstance(error, Decision) else str(error)
    return answer(error).reply.format_reply(reason=reason, run_id=run_id)
