"""The Jinja2 environment templates render in: sandboxed, strict, autoescaped HTML.

Templates live in one folder per email type (``invoice.issued/subject.txt``,
``body.html``, ``body.txt``); files starting with ``_`` are shared layouts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
from jinja2.sandbox import SandboxedEnvironment

from gateway.errors import GatewayError

PARTS = ("subject.txt", "body.html", "body.txt")


class TemplateError(GatewayError, ValueError):
    """A template is missing, invalid, or needs a value the data lacks."""


@dataclass(frozen=True)
class Rendered:
    subject: str
    html: str
    text: str


class Templates:
    def __init__(self, directory: Path, brand: Mapping[str, Any]) -> None:
        self.directory = directory
        self.brand = dict(brand)
        self.env = SandboxedEnvironment(
            loader=jinja2.FileSystemLoader(directory),
            undefined=jinja2.StrictUndefined,
            # Autoescape HTML only: a text part or a subject escaped as HTML
            # would show "&amp;" to the reader.
            autoescape=jinja2.select_autoescape(["html"], default_for_string=False),
            trim_blocks=True,
            lstrip_blocks=True,
        )

    def types(self) -> list[str]:
        """Every email type that has a template folder."""
        if not self.directory.is_dir():
            return []
        return sorted(
            p.name for p in self.directory.iterdir() if p.is_dir() and not p.name.startswith("_")
        )

    def has(self, email_type: str) -> bool:
        return "/" not in email_type and (self.directory / email_type / PARTS[0]).is_file()

    def render(self, email_type: str, variables: Mapping[str, Any]) -> Rendered:
        """Render the subject, HTML and text of ``email_type``."""
        if not self.has(email_type):
            raise TemplateError(f"no template for email type {email_type!r}")
        values = {"brand": self.brand, **variables}
        subject, html, text = (self._render(f"{email_type}/{part}", values) for part in PARTS)
        return Rendered(subject=" ".join(subject.split()), html=html, text=text)

    def _render(self, name: str, values: Mapping[str, Any]) -> str:
        try:
            return self.env.get_template(name).render(values)
        except jinja2.TemplateNotFound as exc:
            raise TemplateError(f"template {name} is missing") from exc
        except jinja2.TemplateSyntaxError as exc:
            raise TemplateError(f"{exc.name or name}, line {exc.lineno}: {exc.message}") from exc
        except jinja2.UndefinedError as exc:
            raise TemplateError(f"{name}: {exc.message}") from exc
