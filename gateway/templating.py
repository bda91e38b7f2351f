"""The Jinja2 environment templates render in: sandboxed, strict, bounded.

Templates live in one folder per email type (``invoice.issued/subject.txt``,
``body.html``, ``body.txt``); files starting with ``_`` are shared layouts.
An edited template comes from the store instead, as a ``TemplateParts``; both
render through ``Templates.render``.

Rules every render obeys:

- Jinja2's ``SandboxedEnvironment``: attributes starting with ``_``,
  ``str.format`` tricks and the ``attr`` filter route raise ``SecurityError``,
  reported as a template reaching outside the sandbox.
- ``StrictUndefined``: a tag without a value fails the render, naming the tag.
- HTML is autoescaped; subjects and text parts are not.
- A render stops with ``TemplateLimitError`` once it runs longer than
  ``render_timeout`` (checked at every loop step, call and operator) or its
  output, or any string it builds, grows past ``max_output`` characters.
"""

from __future__ import annotations

import re
import string
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
import jinja2.meta
from jinja2 import nodes
from jinja2.exceptions import SecurityError
from jinja2.runtime import markup_join, str_join
from jinja2.sandbox import SandboxedEnvironment
from jinja2.visitor import NodeTransformer

from gateway.catalog import ROOTS, EmailType
from gateway.errors import GatewayError, InvalidInput
from gateway.store import TemplateParts

# Part name -> file name in the template folder.
FILES = {"subject": "subject.txt", "html": "body.html", "text": "body.txt"}

# A width or precision in a format spec ("%9999d", "{:>9999}") larger than this
# would build a huge string from a tiny template.
_MAX_WIDTH = 10_000
_WIDTHS = re.compile(r"\d+")
_PERCENT_SPEC = re.compile(r"%[-#0 +]*(\d*)(?:\.(\d*))?")


class TemplateError(GatewayError, ValueError):
    """A template is missing, invalid, or needs a value the data lacks."""


class TemplateLimitError(TemplateError):
    """A render ran too long or grew too large."""


class InvalidTemplate(InvalidInput):
    """A template failed validation; ``errors`` are (JSON pointer, detail) pairs."""

    def __init__(self, errors: list[tuple[str, str]]) -> None:
        super().__init__(*errors[0])
        self.errors = errors
        self.args = ("; ".join(f"{p.removeprefix('#/')}: {d}" for p, d in errors),)


@dataclass(frozen=True)
class Limits:
    render_timeout: float = 2.0
    max_output: int = 1_000_000


@dataclass(frozen=True)
class Rendered:
    subject: str
    html: str
    text: str


# The deadline of the render in progress; None outside a render (at compile time).
_deadline: ContextVar[float | None] = ContextVar("herald_render_deadline", default=None)


class TagValues(dict[str, Any]):
    """A dict of tag values that knows its tag path, so that a missing value
    is reported as ``data.invoice_number`` rather than "'dict object' has no
    attribute ...". The path is kept where sandboxed code cannot read it."""

    _herald_path: str

    @classmethod
    def wrap(cls, values: Mapping[str, Any], path: str, depth: int = 0) -> TagValues:
        # Below a few levels a plain dict will do: deep input must not cost
        # a recursion per level.
        wrapped = cls(
            {
                key: cls.wrap(value, f"{path}.{key}", depth + 1)
                if isinstance(value, Mapping) and depth < 8
                else value
                for key, value in values.items()
            }
        )
        wrapped._herald_path = path
        return wrapped


class _Undefined(jinja2.StrictUndefined):
    @property
    def _undefined_message(self) -> str:
        holder = self._undefined_obj
        if isinstance(holder, TagValues) and isinstance(self._undefined_name, str):
            return f"the tag {holder._herald_path}.{self._undefined_name} has no value"
        return str(super()._undefined_message)


class _Guard(NodeTransformer):
    """Rewrites a parsed template so that loops and ``~`` concatenation run
    through the budget checks of ``_Sandbox``."""

    def visit_For(self, node: nodes.For) -> nodes.Node:
        self.generic_visit(node)
        node.iter = _call("herald_loop", node.iter, node.lineno)
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        self.generic_visit(node)
        return _call("herald_concat", nodes.List(node.nodes, lineno=node.lineno), node.lineno)


def _call(name: str, argument: nodes.Node, lineno: int) -> nodes.Call:
    return nodes.Call(nodes.Name(name, "load"), [argument], [], None, None, lineno=lineno)


class _Sandbox(SandboxedEnvironment):
    intercepted_binops = frozenset({"*", "**", "%", "+"})

    def __init__(self, limits: Limits, **options: Any) -> None:
        super().__init__(**options)
        self.limits = limits
        self.globals["herald_loop"] = self._loop

        def concat(eval_ctx: Any, items: list[Any]) -> str:
            return self._concat(eval_ctx, items)

        self.globals["herald_concat"] = jinja2.pass_eval_context(concat)
        for name in ("center", "indent", "wordwrap"):
            self.filters[name] = self._bounded_width(self.filters[name])
        self.filters["format"] = self._bounded_format(self.filters["format"])

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        tree = _Guard().visit(super()._parse(source, name, filename))
        assert isinstance(tree, nodes.Template)
        tree.set_environment(self)
        return tree

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

    def _loop(self, iterable: Iterable[Any]) -> Iterator[Any]:
        for item in iterable:
            self.tick()
            yield item

    def _concat(self, eval_ctx: Any, items: list[Any]) -> str:
        self.tick()
        self.bound(sum(len(item) if isinstance(item, str) else 64 for item in items))
        joined: str = markup_join(items) if eval_ctx.autoescape else str_join(items)
        self.bound(len(joined))
        return joined

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        __self.tick()
        return super().call(__context, __obj, *args, **kwargs)

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        self.tick()
        sized = (str, list, tuple)
        if operator == "*" and isinstance(left, int) and isinstance(right, sized):
            left, right = right, left
        if operator == "*" and isinstance(left, sized) and isinstance(right, int):
            self.bound(len(left) * right)
        elif operator == "+" and isinstance(left, sized) and isinstance(right, sized):
            self.bound(len(left) + len(right))
        elif operator == "**" and isinstance(left, int) and isinstance(right, int):
            if abs(left) > 1 and right > 0 and right * abs(left).bit_length() > 4096:
                raise TemplateLimitError("the template computed a number too large")
        elif operator == "%" and isinstance(left, str):
            self._check_percent(left)
        result = self.binop_table[operator](left, right)
        if isinstance(result, str):
            self.bound(len(result))
        return result

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        wrapped = super().wrap_str_format(value)
        if wrapped is None:
            return None
        template = str(value.__self__)
        for _, _, spec, _ in string.Formatter().parse(template):
            self._check_widths(spec or "")
        return wrapped

    def _check_percent(self, template: str) -> None:
        for match in _PERCENT_SPEC.finditer(template):
            self._check_widths(match[0])

    def _check_widths(self, spec: str) -> None:
        if any(int(digits) > _MAX_WIDTH for digits in _WIDTHS.findall(spec)):
            raise TemplateLimitError(f"a format width or precision is above {_MAX_WIDTH}")

    def _bounded_width(self, original: Callable[..., Any]) -> Callable[..., Any]:
        def bounded(value: Any, width: Any = 80, *args: Any, **kwargs: Any) -> Any:
            if isinstance(width, int) and width > _MAX_WIDTH:
                raise TemplateLimitError(f"a width above {_MAX_WIDTH} was asked of a filter")
            return original(value, width, *args, **kwargs)

        return bounded

    def _bounded_format(self, original: Callable[..., Any]) -> Callable[..., Any]:
        def bounded(value: Any, *args: Any, **kwargs: Any) -> Any:
            self._check_percent(str(value))
            return original(value, *args, **kwargs)

        return bounded


class Templates:
    def __init__(self, directory: Path, limits: Limits | None = None) -> None:
        self.directory = directory
        self.limits = limits or Limits()
        self.env = _Sandbox(
            self.limits,
            loader=jinja2.FileSystemLoader(directory),
            undefined=_Undefined,
            # Autoescape HTML only: a text part or a subject escaped as HTML
            # would show "&amp;" to the reader.
            autoescape=jinja2.select_autoescape(["html"], default_for_string=False),
            trim_blocks=True,
            lstrip_blocks=True,
        )
        # Compiled templates by (name, source): sources are immutable versions,
        # so an entry never goes stale; a new version is a new key.
        self._compiled: dict[tuple[str, str], jinja2.Template] = {}

    def types(self) -> list[str]:
        """Every email type that has a template folder."""
        if not self.directory.is_dir():
            return []
        return sorted(
            p.name for p in self.directory.iterdir() if p.is_dir() and not p.name.startswith("_")
        )

    def has(self, email_type: str) -> bool:
        return (
            "/" not in email_type
            and not email_type.startswith((".", "_"))
            and (self.directory / email_type / FILES["subject"]).is_file()
        )

    def shipped(self, email_type: str) -> TemplateParts:
        """The default template of ``email_type`` from the templates folder."""
        if not self.has(email_type):
            raise TemplateError(f"no template for email type {email_type!r}")
        folder = self.directory / email_type
        text = folder / FILES["text"]
        return TemplateParts(
            subject=(folder / FILES["subject"]).read_text(encoding="utf-8"),
            html=(folder / FILES["html"]).read_text(encoding="utf-8"),
            text=text.read_text(encoding="utf-8") if text.is_file() else "",
        )

    def render(
        self, email_type: str, parts: TemplateParts, variables: Mapping[str, Any]
    ) -> Rendered:
        """Render the subject, HTML and text (empty when the template has none)."""
        values = self.tag_values(variables)
        texts = {part: getattr(parts, part) for part in FILES if getattr(parts, part).strip()}
        # Compile first: the time limit bounds what a template does, not
        # how long Jinja2 takes to compile it (layouts included).
        for part, source in texts.items():
            self.render_string(f"{email_type}/{FILES[part]}", source, None)
        with self.budget():
            subject, html, text = (
                self.render_string(f"{email_type}/{FILES[part]}", texts[part], values)
                if part in texts
                else ""
                for part in FILES
            )
        return Rendered(subject=" ".join(subject.split()), html=html, text=text)

    @staticmethod
    def tag_values(variables: Mapping[str, Any]) -> dict[str, TagValues]:
        """Template variables whose missing tags are reported by their names."""
        return {root: TagValues.wrap(variables.get(root, {}), root) for root in ROOTS}

    @contextmanager
    def budget(self) -> Iterator[None]:
        """Bound the renders inside to ``render_timeout`` seconds in all."""
        token = _deadline.set(time.monotonic() + self.limits.render_timeout)
        try:
            yield
        finally:
            _deadline.reset(token)

    def render_string(self, name: str, source: str, values: Mapping[str, Any] | None) -> str:
        """Render one template text; ``name``'s extension picks autoescaping.
        Without ``values``, only compile it (and the layouts it uses)."""
        try:
            template = self._compile(name, source)
            if values is None:
                return ""
            size = 0
            chunks = []
            for chunk in template.generate(values):
                size += len(chunk)
                self.env.bound(size)
                self.env.tick()
                chunks.append(chunk)
            return "".join(chunks)
        except jinja2.TemplateSyntaxError as exc:
            raise TemplateError(f"{exc.name or name}, line {exc.lineno}: {exc.message}") from exc
        except jinja2.TemplateNotFound as exc:
            raise TemplateError(f"{name}: template {exc.name} is missing") from exc
        except SecurityError as exc:
            raise TemplateError(f"{name}: the template reached outside the sandbox: {exc}") from exc
        except jinja2.UndefinedError as exc:
            raise TemplateError(f"{name}: {exc.message}") from exc
        except TemplateError:
            raise
        except (jinja2.TemplateError, ArithmeticError, LookupError, TypeError, ValueError) as exc:
            raise TemplateError(f"{name}: {type(exc).__name__}: {exc}") from exc
        except RecursionError as exc:
            raise TemplateLimitError(f"{name}: the template recursed too deeply") from exc
        except MemoryError as exc:
            raise TemplateLimitError(f"{name}: the template grew too large") from exc

    def _compile(self, name: str, source: str) -> jinja2.Template:
        key = (name, source)
        template = self._compiled.get(key)
        if template is None:
            tree = self.env.parse(source, name=name, filename=name)
            # Compile the layouts it uses now too, rather than in the middle of a render.
            used = (nodes.Extends, nodes.Import, nodes.FromImport, nodes.Include)
            for node in tree.find_all(used):
                layout = getattr(node, "template", None)
                if isinstance(layout, nodes.Const) and isinstance(layout.value, str):
                    self.env.get_template(layout.value)
            code = self.env.compile(tree, name=name, filename=name)
            template = self.env.template_class.from_code(
                self.env, code, self.env.make_globals(None), None
            )
            if len(self._compiled) > 256:
                self._compiled.clear()
            self._compiled[key] = template
        return template

    def check(self, entry: EmailType, parts: TemplateParts) -> None:
        """Refuse ``parts`` with ``InvalidTemplate`` listing every fault: syntax
        errors with line numbers, tags the catalog does not offer (with a
        did-you-mean), and any error of a trial render with the catalog's samples."""
        errors: list[tuple[str, str]] = []
        for part, file in FILES.items():
            errors += self.lint(entry, f"#/{part}", file, getattr(parts, part))
        if not parts.subject.strip():
            errors.append(("#/subject", "the subject must not be empty"))
        if not parts.html.strip():
            errors.append(("#/html", "the HTML body must not be empty"))
        if errors:
            raise InvalidTemplate(errors)
        try:
            self.render(entry.name, parts, entry.sample())
        except TemplateError as exc:
            part = next(
                (p for p, f in FILES.items() if str(exc).startswith(f"{entry.name}/{f}")), ""
            )
            raise InvalidTemplate([(f"#/{part or 'html'}", str(exc))]) from exc

    def lint(self, entry: EmailType, pointer: str, file: str, source: str) -> list[tuple[str, str]]:
        """The syntax error, or the tags the catalog does not offer ``entry``,
        in one template text, as (pointer, detail) pairs."""
        try:
            tree = self.env.parse(source, name=file)
        except jinja2.TemplateSyntaxError as exc:
            return [(pointer, f"{file}, line {exc.lineno}: {exc.message}")]
        errors = []
        for tag, line in self.tags(tree):
            if entry.tag(tag) is None and tag not in ROOTS:
                close = entry.suggest(tag)
                hint = f"; did you mean {close}?" if close else ""
                errors.append((pointer, f"{file}, line {line}: unknown tag {tag}{hint}"))
        return errors

    def tags(self, tree: nodes.Template) -> list[tuple[str, int]]:
        """The tags a parsed template uses, with their line numbers: names
        looked up from outside, and ``root.field`` / ``root["field"]`` /
        ``root.get("field")`` for the catalog's roots."""
        # In a template that extends another, the blocks see the top level's
        # imports and assignments, which meta still reports as undeclared.
        declared = {n.target for n in tree.find_all(nodes.Import)}
        declared |= {n.name for n in tree.find_all(nodes.Name) if n.ctx == "store"}
        declared |= {n.name for n in tree.find_all(nodes.Macro)}
        for imported in tree.find_all(nodes.FromImport):
            declared |= {name if isinstance(name, str) else name[1] for name in imported.names}
        free = jinja2.meta.find_undeclared_variables(tree) - set(self.env.globals) - declared
        found: list[tuple[str, int]] = []
        getters: set[int] = set()
        for call in tree.find_all(nodes.Call):
            callee = call.node
            if (
                isinstance(callee, nodes.Getattr)
                and callee.attr == "get"
                and isinstance(callee.node, nodes.Name)
                and callee.node.name in free
                and call.args
                and isinstance(call.args[0], nodes.Const)
            ):
                getters.add(id(callee))
                found.append((f"{callee.node.name}.{call.args[0].value}", call.lineno))
        for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
            assert isinstance(node, nodes.Getattr | nodes.Getitem)
            if id(node) in getters or not isinstance(node.node, nodes.Name):
                continue
            root = node.node.name
            if root not in free or root not in ROOTS:
                continue
            if isinstance(node, nodes.Getattr):
                found.append((f"{root}.{node.attr}", node.lineno))
            elif isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str):
                found.append((f"{root}.{node.arg.value}", node.lineno))
        for name in tree.find_all(nodes.Name):
            if name.ctx == "load" and name.name in free and name.name not in ROOTS:
                found.append((name.name, name.lineno))
        return sorted(set(found), key=lambda item: (item[1], item[0]))
