"""The Jinja2 sandbox every template runs in, and the limits it keeps where the work happens.

A render runs in a worker thread, but a single call of a C function (a
string padded to a billion characters, a regular expression, Python's own
compiler) holds the GIL until it returns, and then nothing else in the
daemon runs. So every limit is checked before the work it bounds is done:

- Before parsing, a template text longer than ``max_source`` characters, or
  with more tags than it could ever be allowed nodes, is refused; after
  parsing, one nested deeper than ``_MAX_DEPTH`` or made of more than
  ``_MAX_NODES`` nodes; and one whose Python code is longer than
  ``_MAX_CODE`` before it reaches Python's compiler. A ``RecursionError`` or
  ``SyntaxError`` while parsing or compiling is the template's fault too,
  and permanent.
- While rendering, time is checked at every loop step, call, filter,
  operator and output (``render_timeout``).
- Every string, list or number a template can ask for by size is checked
  before it is built: repetition (``*``), powers, ``range``, ``lipsum``,
  widths and counts given to string methods and filters, ``join``,
  ``replace``, ``indent``, ``wordwrap``, ``%`` and ``str.format`` (widths
  taken from arguments included), ``tojson`` and ``pprint``.
- A value is turned into text (by output, ``~``, a filter or formatting)
  only once an estimate of its text, walking the containers it holds, is
  within ``max_output``: a list of a million references to one long string
  takes little memory, but printing it would not.

Herald's own loop and concatenation hooks are reached through the
environment, where no template can rebind them.
"""

from __future__ import annotations

import functools
import inspect
import io
import json
import pprint
import re
import time
import types
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from itertools import chain
from typing import Any

import jinja2
from jinja2 import nodes
from jinja2.runtime import markup_join, str_join
from jinja2.sandbox import SandboxedEnvironment, SandboxedEscapeFormatter, SandboxedFormatter
from jinja2.utils import Namespace, generate_lorem_ipsum
from jinja2.visitor import NodeTransformer
from markupsafe import Markup

from gateway.errors import TemplateError as TemplateError
from gateway.errors import TemplateLimitError as TemplateLimitError

# A width, precision or count asked of a format spec or a filter ("%9999d",
# "{:>9999}", center, batch, slice) larger than this would build a huge
# result from a tiny template.
_MAX_WIDTH = 10_000
# The nodes one template text may parse into, which bounds the work of
# parsing it and generating its Python code; the shipped templates have
# under 300.
_MAX_NODES = 5_000
# The Python code a template may compile to, in characters. Python's
# compiler runs as one call that holds the GIL, at about a microsecond a
# character, so this keeps a template from stopping the daemon for more than
# a fraction of a second; the shipped templates make under 14,000.
_MAX_CODE = 150_000
# How deeply statements and expressions may nest. Past about 20 nested loops
# or 100 levels of brackets Python's compiler gives up, and Jinja2's parser
# and code generator recurse once per level; the shipped templates reach 13.
_MAX_DEPTH = 50
# The bits a number computed by ``*`` or ``**`` may have: multiplying huge
# numbers is one long call.
_MAX_BITS = 4096
# How deeply a value may nest before it is refused as text: Python's repr
# would give up too (a list that holds itself nests without end).
_MAX_VALUE_DEPTH = 200
_END = object()
_LIPSUM = inspect.signature(generate_lorem_ipsum)

_WIDTHS = re.compile(r"\d+")
# One printf-style conversion (Python's "%" on strings): key, flags, width,
# precision, length modifier, type.
_PERCENT = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d*)(?:\.(\*|\d*))?[hlL]?(.)", re.DOTALL)
# Filters that never turn their input into text: they count, pick, sort or
# regroup it. Every other filter (and any added later) has its input's text
# size checked first.
_STRUCTURAL_FILTERS = frozenset(
    {
        "abs",
        "attr",
        "batch",
        "count",
        "d",
        "default",
        "dictsort",
        "first",
        "float",
        "groupby",
        "int",
        "items",
        "last",
        "length",
        "list",
        "map",
        "max",
        "min",
        "random",
        "reject",
        "rejectattr",
        "reverse",
        "round",
        "select",
        "selectattr",
        "slice",
        "sort",
        "sum",
        "unique",
    }
)
# Tests that turn their input into text (``str(value).islower()``).
_TEXT_TESTS = frozenset({"lower", "upper"})


@dataclass(frozen=True)
class Limits:
    render_timeout: float = 2.0
    max_output: int = 1_000_000
    max_source: int = 262_144


# The deadline of the render in progress; None outside a render (at compile time).
_deadline: ContextVar[float | None] = ContextVar("herald_render_deadline", default=None)


def _check_shape(tree: nodes.Template) -> None:
    """Refuse a tree nested deeper than ``_MAX_DEPTH`` or with more than
    ``_MAX_NODES`` nodes, walking it without recursion."""
    count = 0
    pending: list[tuple[nodes.Node, int]] = [(tree, 1)]
    while pending:
        node, depth = pending.pop()
        count += 1
        if count > _MAX_NODES:
            raise _too_complex()
        if depth > _MAX_DEPTH:
            raise _too_deep(node.lineno)
        pending.extend((child, depth + 1) for child in node.iter_child_nodes())


def _too_deep(lineno: int | None = None) -> TemplateLimitError:
    return TemplateLimitError(
        f"the template nests too deeply (at most {_MAX_DEPTH} levels)", lineno
    )


def _too_complex() -> TemplateLimitError:
    return TemplateLimitError(f"the template has more than {_MAX_NODES} tags and expressions")


class _Guard(NodeTransformer):
    """Rewrites a parsed template so that loops and ``~`` concatenation run
    through the budget checks of ``Sandbox``."""

    def visit_For(self, node: nodes.For) -> nodes.Node:
        self.generic_visit(node)
        node.iter = _call("herald_loop", node.iter, node.lineno)
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        self.generic_visit(node)
        return _call("herald_concat", nodes.List(node.nodes, lineno=node.lineno), node.lineno)


def _call(hook: str, argument: nodes.Node, lineno: int) -> nodes.Call:
    # An environment attribute, unlike a global, cannot be shadowed by a
    # template's {% set %}.
    callee = nodes.EnvironmentAttribute(hook, lineno=lineno)
    return nodes.Call(callee, [argument], [], None, None, lineno=lineno)


@jinja2.pass_environment
def _finalize(environment: jinja2.Environment, value: Any) -> Any:
    """Every ``{{ expression }}`` passes here before it becomes text."""
    assert isinstance(environment, Sandbox)
    environment.tick()
    environment.bound(environment.text_size(value))
    return value


class _Formatter(SandboxedFormatter):
    """``str.format`` in the sandbox, checked field by field: a width taken
    from an argument is checked once it is known, and the text is counted as
    it grows."""

    def __init__(self, env: Sandbox, template: str, **kwargs: Any) -> None:
        super().__init__(env, **kwargs)
        self.sandbox = env
        self.size = len(template)

    def convert_field(self, value: Any, conversion: str | None) -> Any:
        # !r and !s turn the value into text before format_field sees it.
        self.sandbox.bound(self.size + self.sandbox.text_size(value))
        return super().convert_field(value, conversion)

    def format_field(self, value: Any, format_spec: str) -> Any:
        self.sandbox.check_widths(format_spec)
        self.sandbox.bound(self.size + self.sandbox.text_size(value))
        text = super().format_field(value, format_spec)
        self.size += len(text)
        self.sandbox.bound(self.size)
        return text


class _EscapeFormatter(_Formatter, SandboxedEscapeFormatter):
    """``Markup.format``: the same checks, and the values escaped."""


class _Text(io.StringIO):
    """A stream that keeps what is written to it while it stays within the
    output limit, for printers that write piece by piece."""

    def __init__(self, env: Sandbox) -> None:
        super().__init__()
        self.env = env
        self.size = 0

    def write(self, piece: str) -> int:
        self.size += len(piece)
        self.env.bound(self.size)
        self.env.tick()
        return super().write(piece)


class Sandbox(SandboxedEnvironment):
    intercepted_binops = frozenset({"*", "**", "%", "+"})

    def __init__(self, limits: Limits, **options: Any) -> None:
        super().__init__(finalize=_finalize, **options)
        self.limits = limits
        self.globals["lipsum"] = self._lipsum
        self.policies["json.dumps_function"] = self._dumps
        self.filters["pprint"] = self._pprint
        checks: dict[str, Callable[[inspect.BoundArguments], None]] = {
            "batch": lambda call: self._check_count(call.arguments["linecount"], "count"),
            "center": lambda call: self._check_count(call.arguments["width"], "width"),
            "format": self._check_format,
            "indent": self._check_indent,
            "join": self._check_join,
            "replace": self._check_replace,
            "slice": lambda call: self._check_count(call.arguments["slices"], "count"),
            "sum": self._check_sum,
            "urlize": self._check_urlize,
            "wordwrap": self._check_wordwrap,
        }
        for name, test in list(self.tests.items()):
            # Jinja2 annotates its tests as the bare type "function".
            self.tests[name] = self._guarded(test, text=name in _TEXT_TESTS)  # type: ignore[arg-type]
        for name, original in list(self.filters.items()):
            self.filters[name] = self._guarded(
                original, text=name not in _STRUCTURAL_FILTERS, check=checks.get(name)
            )

        def concat(eval_ctx: Any, items: list[Any]) -> str:
            return self._concat(eval_ctx, items)

        self.herald_loop = self._loop
        self.herald_concat = jinja2.pass_eval_context(concat)

    # Budget

    @contextmanager
    def budget(self) -> Iterator[None]:
        """Bound the renders inside to ``render_timeout`` seconds in all."""
        token = _deadline.set(time.monotonic() + self.limits.render_timeout)
        try:
            yield
        finally:
            _deadline.reset(token)

    def tick(self) -> None:
        deadline = _deadline.get()
        if deadline is not None and time.monotonic() > deadline:
            raise TemplateLimitError(
                f"the template ran longer than {self.limits.render_timeout:g}s"
            )

    def bound(self, size: int) -> None:
        if size > self.limits.max_output:
            raise TemplateLimitError(
                f"the template built text larger than {self.limits.max_output} characters"
            )

    def bound_value(self, value: Any) -> None:
        """Refuse a string or list a call returned that is over the output limit."""
        if isinstance(value, str | bytes | bytearray | list | tuple):
            self.bound(len(value))

    def text_size(self, value: Any) -> int:
        """An upper estimate of the characters ``value`` makes as text, walking
        the containers it holds; it stops counting once past the output limit,
        so it costs at most that many steps."""
        if isinstance(value, str | bytes | bytearray):
            return len(value)
        if isinstance(value, int):
            return value.bit_length() // 3 + 1
        limit = self.limits.max_output
        total = 0
        steps = 0
        pending: list[Iterator[Any]] = [iter((value,))]
        while pending and total <= limit:
            item = next(pending[-1], _END)
            if item is _END:
                pending.pop()
                continue
            steps += 1
            if steps % 1024 == 0:
                self.tick()
            # A separator and quotes around each item.
            total += 4
            children: Iterable[Any] | None = None
            if isinstance(item, str | bytes | bytearray):
                total += len(item)
            elif isinstance(item, int):
                total += item.bit_length() // 3
            elif isinstance(item, Mapping):
                children = chain.from_iterable(item.items())
            elif isinstance(item, Namespace):
                # A namespace shows its attributes; Jinja2 keeps them under
                # this (name-mangled) attribute, which it lets through.
                children = chain.from_iterable(getattr(item, "_Namespace__attrs", {}).items())
            elif isinstance(item, Collection) and not isinstance(item, range):
                children = item
            else:
                # Numbers, None, ranges, generators, macros: a short repr.
                total += 48
            if children is not None:
                if len(pending) > _MAX_VALUE_DEPTH:
                    raise TemplateLimitError(
                        f"the template built a value nested more than {_MAX_VALUE_DEPTH}"
                        " levels deep"
                    )
                pending.append(iter(children))
        return total

    # Parsing and compiling

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        if len(source) > self.limits.max_source:
            raise TemplateLimitError(
                f"the template is {len(source)} characters long,"
                f" over the limit of {self.limits.max_source}"
            )
        # A tag makes a node or more (bar closing tags, which pair with an
        # opening one): a text with more tags than nodes allowed is refused
        # before the work of parsing it.
        tags = source.count(self.block_start_string) + source.count(self.variable_start_string)
        if tags > _MAX_NODES:
            raise _too_complex()
        try:
            tree = super()._parse(source, name, filename)
        except RecursionError as exc:
            raise _too_deep() from exc
        _check_shape(tree)
        guarded = _Guard().visit(tree)
        assert isinstance(guarded, nodes.Template)
        guarded.set_environment(self)
        return guarded

    def _generate(
        self,
        source: nodes.Template,
        name: str | None,
        filename: str | None,
        defer_init: bool = False,
    ) -> str:
        try:
            return super()._generate(source, name, filename, defer_init)
        except RecursionError as exc:
            raise _too_deep() from exc

    def _compile(self, source: str, filename: str) -> types.CodeType:
        if len(source) > _MAX_CODE:
            raise TemplateLimitError(
                f"the template is too complex: it compiles to more than {_MAX_CODE}"
                " characters of code"
            )
        # Python's compiler refuses some nestings the checks above let
        # through ("too many statically nested blocks"): still the
        # template's fault, and permanent.
        try:
            return super()._compile(source, filename)
        except (RecursionError, SyntaxError, MemoryError) as exc:
            raise _too_deep() from exc

    # Hooks the rewritten templates call

    def _loop(self, iterable: Iterable[Any]) -> Iterator[Any]:
        for item in iterable:
            self.tick()
            yield item

    def _concat(self, eval_ctx: Any, items: list[Any]) -> str:
        self.tick()
        total = 0
        for item in items:
            total += self.text_size(item)
            self.bound(total)
        joined: str = markup_join(items) if eval_ctx.autoescape else str_join(items)
        self.bound(len(joined))
        return joined

    def concat(self, parts: Iterable[str]) -> str:
        """The text of a block, macro or ``{% set %}`` capture: its pieces
        are each within the limit, but not necessarily together."""
        pieces = parts if isinstance(parts, list) else list(parts)
        self.tick()
        self.bound(sum(map(len, pieces)))
        return "".join(pieces)

    # Calls and operators

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        __self.tick()
        owner = getattr(__obj, "__self__", None)
        if isinstance(owner, str | bytes | bytearray | int | list):
            args = __self._check_method(owner, str(getattr(__obj, "__name__", "")), args, kwargs)
        result = super().call(__context, __obj, *args, **kwargs)
        __self.bound_value(result)
        return result

    def _check_method(
        self, owner: Any, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> tuple[Any, ...]:
        """Check a call of a string, bytes, number or list method before it
        runs; the arguments to pass on (an iterable read into a list once)."""
        if isinstance(owner, list):
            if name == "extend" and args:
                items = list(args[0])
                self.bound(len(owner) + len(items))
                return (items, *args[1:])
            return args
        # A number given to a string or number method is a width, a count or
        # a length ("x".ljust(n), "x".zfill(n), (1).to_bytes(n)): the result
        # may be that long.
        for number in (*args, *kwargs.values()):
            if isinstance(number, int) and abs(number) > self.limits.max_output:
                raise TemplateLimitError(
                    f"the template asked {type(owner).__name__}.{name} for"
                    f" more than {self.limits.max_output}"
                )
        if isinstance(owner, int):
            return args
        if name == "join" and args:
            items = list(args[0])
            self.bound(self.joined_size(items, len(owner)))
            return (items, *args[1:])
        if name == "replace" and len(args) >= 2:
            count = args[2] if len(args) > 2 else -1
            self.bound(self.replaced_size(owner, args[0], args[1], count))
        elif name == "expandtabs":
            tabsize = args[0] if args else kwargs.get("tabsize", 8)
            tabs = owner.count("\t") if isinstance(owner, str) else owner.count(b"\t")
            if isinstance(tabsize, int):
                self.bound(len(owner) + tabs * max(tabsize, 0))
        elif name == "translate" and isinstance(owner, str) and args:
            # A table may map one character to a long string.
            table = args[0]
            values = table.values() if isinstance(table, Mapping) else table
            longest = max(
                (len(v) for v in values if isinstance(v, str))
                if isinstance(values, Collection)
                else (),
                default=1,
            )
            self.bound(len(owner) * max(longest, 1))
        return args

    def joined_size(self, items: list[Any], separator: int) -> int:
        """The length of ``items`` joined with a separator of that length."""
        total = separator * max(len(items) - 1, 0)
        for item in items:
            total += self.text_size(item)
            self.bound(total)
        return total

    def replaced_size(self, text: Any, old: Any, new: Any, count: Any) -> int:
        """The length of ``text`` with ``old`` replaced by ``new`` (``count``
        times at most, if not negative)."""
        if not all(isinstance(part, str | bytes | bytearray) for part in (text, old, new)):
            return 0
        try:
            found: int = text.count(old)
        except TypeError:
            # A string and bytes mixed: the call fails without building anything.
            return 0
        if isinstance(count, int) and count >= 0:
            found = min(found, count)
        return len(text) + found * max(len(new) - len(old), 0)

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        self.tick()
        sized = (str, bytes, list, tuple)
        numbers = isinstance(left, int) and isinstance(right, int)
        if operator == "*" and isinstance(left, int) and isinstance(right, sized):
            left, right = right, left
        if operator == "*" and isinstance(left, sized) and isinstance(right, int):
            self.bound(len(left) * right)
        elif operator == "*" and numbers and left.bit_length() + right.bit_length() > _MAX_BITS:
            raise TemplateLimitError("the template computed a number too large")
        elif operator == "+" and isinstance(left, sized) and isinstance(right, sized):
            self.bound(len(left) + len(right))
        elif operator == "**" and numbers:
            if abs(left) > 1 and right > 0 and right * abs(left).bit_length() > _MAX_BITS:
                raise TemplateLimitError("the template computed a number too large")
        elif operator == "%" and isinstance(left, str | bytes):
            self.bound(self.percent_size(left, right))
        result = self.binop_table[operator](left, right)
        self.bound_value(result)
        return result

    def percent_size(self, template: str | bytes, values: Any) -> int:
        """An upper estimate of the length of ``template % values``: each
        conversion makes at most its width or the text of all the values."""
        text = template.decode("latin-1") if isinstance(template, bytes) else template
        fields = 0
        widest = 0
        for match in _PERCENT.finditer(text):
            width, precision, kind = match.groups()
            if kind == "%":
                continue
            if "*" in (width, precision):
                raise TemplateLimitError("a width taken from the values (%*) is not allowed")
            self.check_widths(match[0])
            widest = max(widest, int(width or 0), int(precision or 0))
            fields += 1
        return len(text) + fields * (widest + self.text_size(values))

    def check_widths(self, spec: str) -> None:
        if any(int(digits) > _MAX_WIDTH for digits in _WIDTHS.findall(spec)):
            raise TemplateLimitError(f"a format width or precision is above {_MAX_WIDTH}")

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        """``str.format`` and ``format_map`` of a string, sandboxed and bounded."""
        if not isinstance(value, types.MethodType | types.BuiltinMethodType):
            return None
        template = value.__self__
        method = value.__name__
        if method not in ("format", "format_map") or not isinstance(template, str):
            return None

        def formatted(*args: Any, **kwargs: Any) -> str:
            if method == "format_map":
                if kwargs or len(args) != 1:
                    raise TypeError("format_map() takes exactly one argument")
                kwargs, args = args[0], ()
            formatter: _Formatter = (
                _EscapeFormatter(self, template, escape=template.escape)
                if isinstance(template, Markup)
                else _Formatter(self, template)
            )
            return type(template)(formatter.vformat(template, args, kwargs))

        return formatted

    # Globals and filters

    def _lipsum(self, *args: Any, **kwargs: Any) -> str:
        """Jinja2's ``lipsum``, refused before it starts when its paragraphs
        of up to ``max`` words (12 letters, a comma and a space at most)
        would pass the output limit."""
        call = _LIPSUM.bind(*args, **kwargs)
        call.apply_defaults()
        paragraphs, words = call.arguments["n"], call.arguments["max"]
        if isinstance(paragraphs, int) and isinstance(words, int):
            self.bound(paragraphs * words * 14)
        return generate_lorem_ipsum(*call.args, **call.kwargs)

    def _dumps(self, value: Any, **options: Any) -> str:
        """``tojson``'s encoder, writing piece by piece within the output limit."""
        out = _Text(self)
        for piece in json.JSONEncoder(**options).iterencode(value):
            out.write(piece)
        return out.getvalue()

    def _pprint(self, value: Any) -> str:
        """``pprint``, writing piece by piece within the output limit."""
        out = _Text(self)
        pprint.PrettyPrinter(stream=out).pprint(value)
        return out.getvalue().removesuffix("\n")

    def _guarded(
        self,
        original: Callable[..., Any],
        *,
        text: bool,
        check: Callable[[inspect.BoundArguments], None] | None = None,
    ) -> Callable[..., Any]:
        """A filter or test that ticks, checks the text size of its input
        when it turns it into text, runs ``check`` on its arguments, and
        refuses an oversized result."""
        # The context, eval context or environment Jinja2 passes first; the
        # signature (of the synchronous function, for Jinja2's async-aware
        # filters) includes it only if that function asks for it itself.
        passed = 1 if hasattr(original, "jinja_pass_arg") else 0
        unbound = 0 if hasattr(inspect.unwrap(original), "jinja_pass_arg") else passed
        signature = inspect.signature(original) if check else None

        @functools.wraps(original)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            self.tick()
            if text:
                total = 0
                for value in chain(args[passed:], kwargs.values()):
                    total += self.text_size(value)
                    self.bound(total)
            if check is not None and signature is not None:
                bound = signature.bind(*args[unbound:], **kwargs)
                bound.apply_defaults()
                check(bound)
                args, kwargs = (*args[:unbound], *bound.args), bound.kwargs
            result = original(*args, **kwargs)
            self.bound_value(result)
            return result

        return guarded

    def _check_count(self, number: Any, what: str) -> None:
        if isinstance(number, int) and number > _MAX_WIDTH:
            raise TemplateLimitError(f"a {what} above {_MAX_WIDTH} was asked of a filter")

    def _check_indent(self, call: inspect.BoundArguments) -> None:
        width = call.arguments["width"]
        self._check_count(width, "width")
        text = str(call.arguments["s"])
        step = width if isinstance(width, int) else len(str(width))
        self.bound(len(text) + (text.count("\n") + 1) * max(step, 0))

    def _check_wordwrap(self, call: inspect.BoundArguments) -> None:
        # Every line ends in the wrap string, and a line holds at least one
        # character.
        wrapstring = call.arguments["wrapstring"]
        if isinstance(wrapstring, str) and len(wrapstring) > 1:
            self.bound((len(str(call.arguments["s"])) + 1) * (len(wrapstring) + 1))

    def _check_replace(self, call: inspect.BoundArguments) -> None:
        arguments = call.arguments
        count = arguments["count"]
        self.bound(
            self.replaced_size(
                str(arguments["s"]),
                str(arguments["old"]),
                str(arguments["new"]),
                -1 if count is None else count,
            )
        )

    def _check_join(self, call: inspect.BoundArguments) -> None:
        items = list(call.arguments["value"])
        call.arguments["value"] = items
        self.bound(self.joined_size(items, len(str(call.arguments["d"]))))

    def _check_format(self, call: inspect.BoundArguments) -> None:
        arguments = call.arguments
        values = arguments["kwargs"] or arguments["args"]
        self.bound(self.percent_size(str(arguments["value"]), values))

    def _check_sum(self, call: inspect.BoundArguments) -> None:
        # Adding lists one by one copies them over and over, in one call.
        start = call.arguments["start"]
        if not isinstance(start, int | float):
            raise TemplateLimitError("the sum filter adds numbers only")

    def _check_urlize(self, call: inspect.BoundArguments) -> None:
        # Every word may become a link carrying the target and rel attributes.
        extra = sum(len(str(call.arguments[key] or "")) for key in ("target", "rel"))
        if extra:
            text = str(call.arguments["value"])
            self.bound(len(text) + len(text.split()) * extra)
