"""The one table of answers: each decision and error, its SMTP reply, HTTP status,
problem type and Retry-After."""

from __future__ import annotations

import importlib
import inspect
import json
import pkgutil
import re
from pathlib import Path

import herald_plugins
import pytest

import gateway
from gateway.decisions import ANSWERS, FAULT, ProblemType, answer, reply
from gateway.errors import (
    BodyTooLarge,
    ConflictError,
    Defer,
    Drop,
    GatewayError,
    InvalidEvent,
    InvalidInput,
    LeaseLostError,
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
from gateway.json_input import MalformedJsonError, UnsupportedMediaTypeError
from gateway.problems import problem_for
from gateway.replies import Reply
from gateway.signing import SignatureError

ROOT = Path(__file__).resolve().parents[1]

# error: (HTTP status, problem type, SMTP reply, Retry-After)
ROWS: list[tuple[BaseException, int, ProblemType | None, Reply, int | None]] = [
    (Reject("no"), 422, ProblemType.REJECTED, Reply.REJECTED, None),
    (UnsafeHeader("CR LF"), 422, ProblemType.REJECTED, Reply.UNSAFE_HEADER, None),
    (Defer("later"), 503, ProblemType.DEFERRED, Reply.DEFERRED, 60),
    (Overloaded("full"), 503, ProblemType.QUEUE_FULL, Reply.QUEUE_FULL, 30),
    (Drop("not wanted"), 202, None, Reply.DROPPED, None),
    (StageError("crashed"), 500, ProblemType.STAGE_FAILED, Reply.STAGE_FAILED, None),
    (StoreError("away"), 503, ProblemType.STORE_UNAVAILABLE, Reply.STORE_UNAVAILABLE, 30),
    (LeaseLostError("gone"), 503, ProblemType.STORE_UNAVAILABLE, Reply.STORE_UNAVAILABLE, 30),
    (StoreDataError("NUL"), 422, ProblemType.UNSTORABLE, Reply.UNSTORABLE, None),
    (ConflictError("taken"), 409, ProblemType.CONFLICT, Reply.REJECTED, None),
    (InvalidInput("#/a", "bad"), 422, ProblemType.INVALID_FIELD, Reply.REJECTED, None),
    (InvalidEvent([("#/id", "bad")]), 422, ProblemType.INVALID_EVENT, Reply.REJECTED, None),
    (MalformedJsonError("line 1"), 400, ProblemType.MALFORMED_BODY, Reply.BAD_SYNTAX, None),
    (
        MalformedBodyError("no boundary", media="multipart"),
        400,
        ProblemType.MALFORMED_BODY,
        Reply.BAD_SYNTAX,
        None,
    ),
    (
        UnsupportedMediaTypeError("text/plain"),
        415,
        ProblemType.UNSUPPORTED_MEDIA_TYPE,
        Reply.BAD_SYNTAX,
        None,
    ),
    (BodyTooLarge(10), 413, ProblemType.BODY_TOO_LARGE, Reply.TOO_BIG, None),
    (NotFoundError("no run"), 404, ProblemType.NOT_FOUND, Reply.REJECTED, None),
    (PrunedError("retention removed it"), 410, ProblemType.PRUNED, Reply.REJECTED, None),
    (NotAReport("not a report"), 422, ProblemType.REJECTED, Reply.NOT_A_REPORT, None),
    (TemplateError("missing"), 422, ProblemType.TEMPLATE_FAILED, Reply.REJECTED, None),
    (TemplateLimitError("too big"), 422, ProblemType.TEMPLATE_FAILED, Reply.REJECTED, None),
    (SignatureError("wrong"), 401, ProblemType.INVALID_SIGNATURE, Reply.AUTH_FAILED, None),
    (RateLimitedError(7), 429, ProblemType.RATE_LIMITED, Reply.RATE_LIMITED, 7),
    (ValueError("a bug"), 500, None, Reply.LOCAL_ERROR, None),
    (GatewayError("unlisted"), 500, None, Reply.LOCAL_ERROR, None),
]


@pytest.mark.parametrize(
    ("error", "status", "kind", "smtp", "retry_after"), ROWS, ids=lambda v: type(v).__name__
)
def test_each_row_gives_its_answers(
    error: BaseException,
    status: int,
    kind: ProblemType | None,
    smtp: Reply,
    retry_after: int | None,
) -> None:
    """Each decision and error has the HTTP status, problem type, SMTP reply and
    Retry-After written in the table."""
    row = answer(error)
    assert (row.status, row.problem, row.reply) == (status, kind, smtp)
    assert row.retry_after_of(error) == retry_after


@pytest.mark.parametrize(
    ("error", "status", "kind", "smtp", "retry_after"),
    [row for row in ROWS if row[1] >= 400],
    ids=lambda v: type(v).__name__,
)
def test_each_problem_is_made_from_its_row(
    error: BaseException,
    status: int,
    kind: ProblemType | None,
    smtp: Reply,
    retry_after: int | None,
) -> None:
    """The problem for an error has its row's status, type and Retry-After header."""
    response = problem_for(error)
    assert response.text is not None
    body = json.loads(response.text)
    assert response.status == body["status"] == status
    assert body["type"] == (kind.uri if kind else "about:blank")
    assert response.content_type == "application/problem+json"
    wait = response.headers.get("Retry-After")
    assert wait == (None if retry_after is None else str(retry_after))


def test_every_listed_class_has_a_pinned_row() -> None:
    """No row of the table goes unpinned by ROWS above."""
    pinned = {type(error) for error, *_ in ROWS}
    assert sorted(c.__name__ for c in ANSWERS if c not in pinned) == []


def test_a_malformed_body_names_its_format() -> None:
    """A body that is not in its format says which format it is not."""
    body = json.loads(problem_for(MalformedJsonError("line 1 column 2")).text or "")
    assert body["detail"] == "the body is not valid JSON: line 1 column 2"


def test_a_subclass_answers_as_its_nearest_listed_ancestor() -> None:
    """An error without its own row takes the row of the nearest class that has one."""
    assert answer(MalformedJsonError) is ANSWERS[MalformedBodyError]
    assert answer(LeaseLostError("gone")) is ANSWERS[StoreError]
    assert answer(KeyError("x")) is FAULT


def test_an_invalid_event_is_the_admin_api_s_invalid_input_with_its_pointers() -> None:
    """InvalidEvent is an InvalidInput carrying every pointer, and its text names each."""
    error = InvalidEvent([("#/id", "must be a string"), ("#/type", "too long")])
    assert isinstance(error, InvalidInput)
    assert error.errors == [("#/id", "must be a string"), ("#/type", "too long")]
    assert (error.field, error.detail) == ("#/id", "must be a string")
    assert str(error) == "#/id: must be a string; #/type: too long"
    body = json.loads(problem_for(error).text or "")
    assert body["detail"] == "the event is invalid: #/id: must be a string; #/type: too long"
    assert [e["pointer"] for e in body["errors"]] == ["#/id", "#/type"]


def test_a_rejection_names_its_field_and_run() -> None:
    """A Reject's problem points at the field the stage named and carries the run id."""
    body = json.loads(problem_for(Reject("bad total", field="data"), run_id="run_1").text or "")
    assert body["errors"] == [{"pointer": "#/data", "detail": "bad total"}]
    assert (body["detail"], body["run_id"]) == ("bad total", "run_1")


def test_smtp_replies_carry_the_reason_or_the_failed_run() -> None:
    """A decision's reply says its reason; a crashed stage's names the run it failed."""
    assert reply(Reject("no such customer")) == "550 5.7.1 no such customer"
    assert reply(Overloaded("the queue is full")) == (
        "451 4.3.1 the queue is full, try again later"
    )
    assert reply(StageError("stage x failed: boom"), run_id="run_9") == (
        "451 4.3.0 Local error in processing, run run_9 failed"
    )
    # The reason is the stage's; it never breaks into a second reply line.
    assert reply(Defer("wait\r\n250 ok")) == "451 4.3.0 wait 250 ok"


def test_a_crash_is_herald_s_fault_on_both_ways_in() -> None:
    """A crashed stage is HTTP 500 and SMTP 451 4.3.0: Herald's fault, not the sender's,
    and not a promise that a retry cures it."""
    row = answer(StageError)
    assert row.status == 500
    assert row.reply.value.startswith("451 4.3.0 ")
    assert row.retry_after is None


def test_retryable_answers_are_503_and_4yz_and_the_rest_are_not() -> None:
    """503 comes with a Retry-After and a 4yz reply; a 4xx status never has a 4yz reply
    (what no retry can cure is refused for good on every way in)."""
    for row in ANSWERS.values():
        temporary = row.reply.value.startswith("4")
        if row.status == 503:
            assert temporary, row
            assert row.retry_after is not None, row
        elif 400 <= row.status < 500 and row.status != 429:
            assert not temporary, row


def _problem_types_in_use() -> set[str]:
    used = {row.problem for row in ANSWERS.values() if row.problem is not None}
    names = set()
    for path in (ROOT / "gateway").rglob("*.py"):
        names |= set(re.findall(r"ProblemType\.([A-Z_]+)", path.read_text(encoding="utf-8")))
    return {str(kind) for kind in used} | {str(ProblemType[name]) for name in names}


def test_every_problem_type_is_answered_somewhere() -> None:
    """Every member of ProblemType is some row's, or named where a problem is made."""
    assert sorted(set(map(str, ProblemType)) - _problem_types_in_use()) == []


def test_no_problem_type_is_a_free_string() -> None:
    """No module of gateway/ spells a problem type as a string of its own."""
    found = []
    for path in (ROOT / "gateway").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        if path.name != "decisions.py" and re.search(r'kind="[a-z-]+"[,)]', text):
            found.append(path.name)
    assert found == []


def _modules(package: object) -> list[str]:
    path = package.__path__  # type: ignore[attr-defined]  # packages have one
    prefix = package.__name__ + "."  # type: ignore[attr-defined]  # modules have one
    # ``__main__`` runs the command line when imported; it defines no class.
    found = pkgutil.walk_packages(path, prefix)
    return [info.name for info in found if not info.name.endswith(".__main__")]


def test_every_exception_herald_defines_derives_from_gateway_error() -> None:
    """Each exception class in gateway and herald_plugins has GatewayError as its root."""
    strays = []
    for name in [*_modules(gateway), *_modules(herald_plugins)]:
        module = importlib.import_module(name)
        for _, cls in inspect.getmembers(module, inspect.isclass):
            own = cls.__module__ == name and issubclass(cls, BaseException)
            if own and not issubclass(cls, GatewayError):
                strays.append(f"{name}.{cls.__name__}")
    assert strays == []
