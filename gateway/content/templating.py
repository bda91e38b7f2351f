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
- The limits of ``gateway.content._sandbox``: a template text too long, too deep or
  too complex is refused before it is compiled, and a render stops with
  ``TemplateLimitError`` once it runs longer than ``render_timeout`` or
  would build text larger than ``max_output`` characters, checked before
  the work is done. Any failure of a template's code is a ``TemplateError``:
  permanent, whatever the input.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import jinja2
import jinja2.meta
from jinja2 import nodes
from jinja2.exceptions import SecurityError

from gateway.content._sandbox import Limits as Limits
from gateway.content._sandbox import Sandbox
from gateway.content._sandbox import TemplateError as TemplateError
from gateway.content._sandbox import TemplateLimitError as TemplateLimitError
from gateway.content.catalog import ROOTS, EmailType
from gateway.errors import InvalidInput
from gateway.store import TemplateParts

# Part name -> file name in the template folder.
FILES = {"subject": "subject.txt", "html": "body.html", "text": "body.txt"}
# Threads that compile and render. A render holds the GIL while it runs, so
# more threads would only take turns, and each one more is another the event
# loop waits behind for its turn: two let a render go on beside a long one.
RENDER_THREADS = 2

P = ParamSpec("P")
T = TypeVar("T")


@dataclass(frozen=True)
class Fault:
    """One validation error, placed: the part (subject, html, text) and, when
    the error names one, the line of that part's text (from 1)."""

    part: str
    line: int | None
    detail: str


class InvalidTemplate(InvalidInput):
    """A template failed validation; ``errors`` are (JSON pointer, detail) pairs."""

    def __init__(self, errors: list[tuple[str, str]]) -> None:
        super().__init__(*errors[0])
        self.errors = errors
        self.args = ("; ".join(f"{p.removeprefix('#/')}: {d}" for p, d in errors),)

    @property
    def faults(self) -> list[Fault]:
        """The errors by part and line, as an editor marks them."""
        found = []
        for pointer, detail in self.errors:
            part = pointer.removeprefix("#/")
            # The details say "body.html, line 3: ..." (see ``_located`` and
            # ``Templates.lint``); a line of another file (a layout) is not
            # a line of this part.
            match = _LINE.search(detail)
            line = int(match[2]) if match and match[1] == FILES.get(part) else None
            found.append(Fault(part, line, detail))
        return found


_LINE = re.compile(r"(?:^|/)(subject\.txt|body\.html|body\.txt), line (\d+):")


@dataclass(frozen=True)
class Rendered:
    subject: str
    html: str
    text: str


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


class Templates:
    def __init__(self, directory: Path, limits: Limits | None = None) -> None:
        self.directory = directory
        self.limits = limits or Limits()
        self.env = Sandbox(
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
        self._threads = ThreadPoolExecutor(RENDER_THREADS, thread_name_prefix="herald-render")
        # The shipped templates read, by email type, with their files' stamps.
        self._shipped: dict[str, tuple[tuple[tuple[int, int], ...], TemplateParts]] = {}

    async def run(self, work: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run template work (compiling, rendering, checking) in a render
        thread, never on the event loop, which keeps answering meanwhile."""
        call = functools.partial(contextvars.copy_context().run, work, *args, **kwargs)
        return await asyncio.get_running_loop().run_in_executor(self._threads, call)

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
        """The default template of ``email_type`` from the templates folder,
        read again only when one of its files changed (or came or went)."""
        if not self.has(email_type):
            raise TemplateError(f"no template for email type {email_type!r}")
        folder = self.directory / email_type
        stamp = tuple(_stamp(folder / name) for name in FILES.values())
        held = self._shipped.get(email_type)
        if held is not None and held[0] == stamp:
            return held[1]
        text = folder / FILES["text"]
        parts = TemplateParts(
            subject=(folder / FILES["subject"]).read_text(encoding="utf-8"),
            html=(folder / FILES["html"]).read_text(encoding="utf-8"),
            text=text.read_text(encoding="utf-8") if text.is_file() else "",
        )
        self._shipped[email_type] = stamp, parts
        return parts

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
        with self.env.budget():
            yield

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
        except TemplateError as exc:
            raise type(exc)(_located(name, exc)) from exc
        except RecursionError as exc:
            raise TemplateLimitError(f"{name}: the template recursed too deeply") from exc
        except MemoryError as exc:
            raise TemplateLimitError(f"{name}: the template grew too large") from exc
        except (
            jinja2.TemplateError,
            ArithmeticError,
            AttributeError,
            LookupError,
            RuntimeError,
            TypeError,
            ValueError,
        ) as exc:
            # The template's own code failed on plain data ("dictionary
            # changed size during iteration" and the like): permanent.
            raise TemplateError(f"{name}: {type(exc).__name__}: {exc}") from exc

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
        except TemplateError as exc:
            return [(pointer, _located(file, exc))]
        errors = []
        for tag, line in self.tags(tree):
            if entry.tag(tag) is None and tag not in ROOTS:
                close = entry.suggest(tag)
                hint = f"; did you mean {close}?" if close else ""
                errors.append((pointer, f"{file}, line {line}: unknown tag {tag}{hint}"))
        return errors

    def tags(self, tree: nodes.Template, roots: Sequence[str] = ROOTS) -> list[tuple[str, int]]:
        """The tags a parsed template uses, with their line numbers: names
        looked up from outside, and ``root.field`` / ``root["field"]`` /
        ``root.get("field")`` for the ``roots`` (the catalog's by default)."""
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
            if root not in free or root not in roots:
                continue
            if isinstance(node, nodes.Getattr):
                found.append((f"{root}.{node.attr}", node.lineno))
            elif isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str):
                found.append((f"{root}.{node.arg.value}", node.lineno))
        for name in tree.find_all(nodes.Name):
            if name.ctx == "load" and name.name in free and name.name not in roots:
                found.append((name.name, name.lineno))
        return sorted(set(found), key=lambda item: (item[1], item[0]))


def _stamp(path: Path) -> tuple[int, int]:
    """A file's modification time and size; (0, -1) when it is missing."""
    try:
        status = path.stat()
    except FileNotFoundError:
        return 0, -1
    return status.st_mtime_ns, status.st_size


def _located(name: str, exc: TemplateError) -> str:
    """The message of a sandbox error, naming the template (and the line)."""
    line = getattr(exc, "lineno", None)
    return f"{name}, line {line}: {exc}" if line else f"{name}: {exc}"
