"""JSON from outside Herald: the one reader behind every way in that takes JSON.

Python's ``json`` module reads more than RFC 8259 allows and more than a
store can keep, and some documents make it raise what no caller expects
(``RecursionError``, or ``ValueError`` for a long integer). This reader takes
I-JSON (RFC 7493) within limits, and says where it found anything else:

- The text is UTF-8 (RFC 8259 §8.1).
- Arrays and objects nest at most ``MAX_DEPTH`` deep. The depth is measured
  before parsing, so the parser's recursion stays bounded whatever the text.
- ``NaN`` and ``Infinity`` are not JSON numbers (RFC 8259 §6); a number has
  at most ``MAX_DIGITS`` digits in a row and fits a double (RFC 7493 §2.2).
- No string or member name holds a lone surrogate such as ``"\\ud800"``
  (RFC 7493 §2.1): it has no UTF-8 form (RFC 3629 §3), so no store can keep it.
- Unless the caller allows it, no string holds U+0000, which a PostgreSQL
  text column cannot hold.

Text that is not JSON raises ``MalformedJsonError`` (HTTP 400) with the line
and column; JSON that breaks a rule raises ``InvalidInput`` (HTTP 422) naming
each place by its JSON pointer (RFC 6901). A request whose body is not
declared as JSON raises ``UnsupportedMediaTypeError`` (HTTP 415).
"""

from __future__ import annotations

import json
import math
import re
from bisect import bisect_right
from collections.abc import Callable, Collection, Iterator
from itertools import accumulate, compress, count, islice
from typing import TYPE_CHECKING, Any

from gateway.errors import GatewayError, InvalidInput, MalformedBodyError

if TYPE_CHECKING:
    # For types alone: the CLI reads JSON too, and need not load aiohttp.
    from aiohttp import web

MAX_DEPTH = 64
MAX_DIGITS = 100
# Past this many, one more place adds nothing a client can act on.
MAX_ERRORS = 10

#: The media types of a JSON body: ``application/json`` and any
#: ``+json`` structured syntax suffix (RFC 6839 §3.1).
JSON_TYPES = ("application/json",)


class MalformedJsonError(MalformedBodyError):
    """The text is not JSON; the message says where it stops being JSON."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail, media="JSON")


class UnsupportedMediaTypeError(GatewayError, ValueError):
    """The request's ``Content-Type`` is not one this route reads."""


class _Refused:
    """What the parser's number hooks return for a number Herald does not
    take, so that the walk after parsing can name its place."""

    __slots__ = ("reason",)

    def __init__(self, reason: str) -> None:
        self.reason = reason


_LONG_DIGITS = re.compile(rb"[0-9]{%d}" % (MAX_DIGITS + 1))
# An exponent of 100 or more is the only other way a number of at most
# MAX_DIGITS digits in a row can overflow a double.
_BIG_EXPONENT = re.compile(rb"[eE][+-]?0*[1-9][0-9]{2}")
# Where the text may escape a surrogate (\uD800-\uDFFF); pairs are fine, and
# the walk after parsing tells them from lone ones.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")
_STEPS = bytes.maketrans(
    b"[{]}" + bytes(b for b in range(256) if b not in b"[{]}"),
    b"\x01\x01\xff\xff" + bytes(252),
)


def loads(text: bytes | str, *, allow_nul: bool = False) -> Any:
    """The JSON value of ``text``, or ``MalformedJsonError`` / ``InvalidInput``
    as the module says. ``allow_nul`` lets strings hold U+0000, for documents
    kept as JSON (whose ``\\u0000`` escape any store can hold), never as text."""
    data, decoded = _utf8(text)
    deep = _too_deep(data)
    if deep is not None:
        raise MalformedJsonError(
            f"{_where(data, deep)}: arrays and objects nest more than {MAX_DEPTH} deep"
        )
    refused: list[_Refused] = []

    def refuse(reason: str) -> _Refused:
        refused.append(_Refused(reason))
        return refused[-1]

    def constant(name: str) -> _Refused:
        return refuse(f"{name} is not a JSON number (RFC 8259 §6)")

    def number(literal: str, convert: Callable[[str], float]) -> float | _Refused:
        if _LONG_DIGITS.search(literal.encode()):
            return refuse(f"the number has more than {MAX_DIGITS} digits in a row")
        value = convert(literal)
        return value if math.isfinite(value) else refuse("the number does not fit a double")

    # Python parses numbers in C unless given a hook, so a hook is given only
    # when the text holds a number that it could refuse.
    long_digits = _digits(data) > MAX_DIGITS and _LONG_DIGITS.search(data) is not None
    may_overflow = long_digits or _BIG_EXPONENT.search(data) is not None
    try:
        value = json.loads(
            decoded,
            parse_constant=constant,
            parse_int=(lambda literal: number(literal, int)) if long_digits else None,
            parse_float=(lambda literal: number(literal, float)) if may_overflow else None,
        )
    except json.JSONDecodeError as exc:
        raise MalformedJsonError(f"{exc.msg}: line {exc.lineno} column {exc.colno}") from exc
    if refused or _SURROGATE_ESCAPE.search(data) or (not allow_nul and b"\\u0000" in data):
        errors = list(islice(_faults(value, allow_nul=allow_nul), MAX_ERRORS))
        if errors:
            invalid = InvalidInput(*errors[0])
            invalid.errors = errors
            raise invalid
    return value


async def read(
    request: web.Request, *, types: Collection[str] = JSON_TYPES, allow_nul: bool = False
) -> Any:
    """The JSON value of the request's body, once its ``Content-Type`` is one of
    ``types`` (or ends in ``+json``); the body's size is aiohttp's limit."""
    check_media_type(request, types)
    return loads(await request.read(), allow_nul=allow_nul)


def check_media_type(request: web.Request, types: Collection[str] = JSON_TYPES) -> None:
    """``UnsupportedMediaTypeError`` unless the request declares a body of ``types``."""
    declared = request.content_type
    if declared in types or (declared.startswith("application/") and declared.endswith("+json")):
        return
    given = request.headers.get("Content-Type")
    raise UnsupportedMediaTypeError(
        f"the body must be sent as {' or '.join(types)}"
        + (f", not {declared}" if given else "; the request has no Content-Type")
    )


def _utf8(text: bytes | str) -> tuple[bytes, str]:
    """``text`` both as bytes and as str, or ``MalformedJsonError`` where it is not UTF-8."""
    if isinstance(text, str):
        try:
            return text.encode("utf-8"), text
        except UnicodeEncodeError as exc:
            where = f"character {exc.start + 1}"
    else:
        try:
            return text, text.decode("utf-8")
        except UnicodeDecodeError as exc:
            where = _where(text, exc.start)
    raise MalformedJsonError(f"{where}: the text is not UTF-8 (RFC 8259 §8.1)")


def _digits(data: bytes) -> int:
    # Deleting is far quicker than searching, and most texts have few digits.
    return len(data) - len(data.translate(None, b"0123456789"))


def _where(data: bytes, offset: int) -> str:
    """``line L column C`` of a byte offset, counted in characters as json counts."""
    line = data.count(b"\n", 0, offset) + 1
    line_start = data.rfind(b"\n", 0, offset) + 1
    column = len(data[line_start:offset].decode("utf-8", "replace")) + 1
    return f"line {line} column {column}"


def _too_deep(data: bytes) -> int | None:
    """The offset of the first bracket nested deeper than ``MAX_DEPTH`` outside
    any string, or ``None``. Works at the speed of bytes methods, since the
    body may be megabytes long."""
    if data.count(b"[") + data.count(b"{") <= MAX_DEPTH:
        return None
    # Escaped backslashes and quotes are blanked first, keeping every offset,
    # so every quote left opens or closes a string; splitting on quotes then
    # leaves the text outside strings at the even places.
    parts = data.replace(b"\\\\", b"__").replace(b'\\"', b"__").split(b'"')
    outside = parts[::2]
    steps = b"".join(outside).translate(_STEPS)
    depths = accumulate(memoryview(steps).cast("b"))
    first = next(compress(count(), map(MAX_DEPTH.__lt__, depths)), None)
    if first is None:
        return None
    # Back from the text outside strings to ``data``: each string before the
    # part holding ``first`` adds its length and its two quotes.
    before = bisect_right(list(accumulate(map(len, outside))), first)
    return first + sum(map(len, parts[1 : 2 * before : 2])) + 2 * before


def _faults(document: Any, *, allow_nul: bool) -> Iterator[tuple[str, str]]:
    """(JSON pointer, detail) for each refused number and each string or member
    name Herald cannot keep, in document order. The walk keeps its own stack
    rather than recursing, as a reader of outside input should."""
    stack: list[tuple[Any, tuple[str, ...]]] = [(document, ())]
    while stack:
        value, path = stack.pop()
        if isinstance(value, dict):
            for key, member in reversed(value.items()):
                stack.append((member, (*path, key)))
            for key in value:
                fault = _text_fault(key, allow_nul=allow_nul)
                if fault:
                    yield _pointer((*path, key)), f"the member name {fault}"
        elif isinstance(value, list):
            stack.extend((item, (*path, str(n))) for n, item in reversed(list(enumerate(value))))
        elif isinstance(value, str):
            fault = _text_fault(value, allow_nul=allow_nul)
            if fault:
                yield _pointer(path), f"the string {fault}"
        elif isinstance(value, _Refused):
            yield _pointer(path), value.reason


def _text_fault(text: str, *, allow_nul: bool) -> str | None:
    if _SURROGATE.search(text):
        return "holds a lone surrogate escape (RFC 7493 §2.1), which has no UTF-8 form"
    if not allow_nul and "\x00" in text:
        return "holds U+0000, which Herald does not keep"
    return None


def _pointer(path: tuple[str, ...]) -> str:
    """``#/a/0/b``: RFC 6901 escapes, with any lone surrogate shown as U+FFFD
    so that the pointer itself can be written out."""
    escaped = (_SURROGATE.sub("\ufffd", p).replace("~", "~0").replace("/", "~1") for p in path)
    return "#" + "".join("/" + part for part in escaped)
