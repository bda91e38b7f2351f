"""The tag catalog: which dynamic tags each email type offers.

``templates/catalog.toml`` lists, per email type, every tag with a
description, an example and whether it is required. One file drives four
things: template validation (unknown tags, with a did-you-mean), sample data
for previews, ``herald tags`` and the admin API's ``/v1/tags``, and the 422
for an event that lacks a required tag.
"""

from __future__ import annotations

import difflib
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from gateway.errors import ConfigError, NotFoundError

CATALOG_FILE = "catalog.toml"
# The names a template sees; every tag is one of these or a field of one.
ROOTS = ("recipient", "event", "data", "brand")


@dataclass(frozen=True)
class Tag:
    name: str
    description: str
    example: Any
    required: bool

    @property
    def root(self) -> str:
        return self.name.partition(".")[0]

    @property
    def field(self) -> str:
        return self.name.partition(".")[2]

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class EmailType:
    name: str
    description: str
    tags: Sequence[Tag]

    def tag(self, name: str) -> Tag | None:
        return next((tag for tag in self.tags if tag.name == name), None)

    def suggest(self, name: str) -> str | None:
        """The catalog tag closest to a misspelt ``name``, if any is close."""
        matches = difflib.get_close_matches(name, [t.name for t in self.tags], n=1, cutoff=0.6)
        return matches[0] if matches else None

    def sample(self) -> dict[str, Any]:
        """Template variables built from every tag's example value."""
        values: dict[str, dict[str, Any]] = {root: {} for root in ROOTS}
        for tag in self.tags:
            values[tag.root][tag.field] = tag.example
        values["event"]["type"] = self.name
        return values

    def search(self, query: str) -> list[Tag]:
        """The tags whose name or description holds every word of ``query``
        (any case); all of them for an empty query."""
        words = query.casefold().split()
        return [
            tag
            for tag in self.tags
            if all(word in f"{tag.name} {tag.description}".casefold() for word in words)
        ]

    def missing(self, data: Mapping[str, Any]) -> list[Tag]:
        """The required data tags that ``data`` lacks or leaves empty."""
        return [
            tag
            for tag in self.tags
            if tag.required and tag.root == "data" and data.get(tag.field) in (None, "")
        ]

    def as_json(self) -> dict[str, Any]:
        return {
            "type": self.name,
            "description": self.description,
            "tags": [tag.as_json() for tag in self.tags],
        }


class Catalog:
    def __init__(self, types: Mapping[str, EmailType]) -> None:
        self.types = dict(types)

    @classmethod
    def load(cls, directory: Path, fallback: Path | None = None) -> Catalog:
        """Read ``catalog.toml`` from the templates folder (else from ``fallback``'s);
        errors name the entry."""
        path = directory / CATALOG_FILE
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return cls.load(fallback) if fallback is not None else cls({})
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"{path}: cannot be read ({exc})") from exc
        common = [_tag(entry, f"{path}: [[common]]") for entry in data.get("common", [])]
        types: dict[str, EmailType] = {}
        for name, table in data.get("types", {}).items():
            where = f"{path}: [types.{name!r}]"
            own = [_tag(entry, where) for entry in table.get("tags", [])]
            types[name] = EmailType(name, str(table.get("description", "")), [*common, *own])
        return cls(types)

    def names(self) -> list[str]:
        return sorted(self.types)

    def get(self, email_type: str) -> EmailType:
        """The entry for ``email_type``; ``NotFoundError`` with a did-you-mean if unknown."""
        if email_type in self.types:
            return self.types[email_type]
        close = difflib.get_close_matches(email_type, self.names(), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise NotFoundError(f"no email type {email_type!r} in the tag catalog{hint}")


def _tag(entry: Any, where: str) -> Tag:
    if not isinstance(entry, dict):
        raise ConfigError(f"{where}: expected a table with name, description, example, required")
    name = entry.get("name")
    root, dot, field = name.partition(".") if isinstance(name, str) else ("", "", "")
    if root not in ROOTS or not dot or not field.isidentifier():
        raise ConfigError(f"{where}: tag name {name!r} must be one of {', '.join(ROOTS)} + .field")
    unknown = set(entry) - {"name", "description", "example", "required"}
    if unknown:
        raise ConfigError(f"{where}: tag {name}: unknown key {sorted(unknown)[0]!r}")
    required = entry.get("required", False)
    if not isinstance(required, bool):
        raise ConfigError(f"{where}: tag {name}: required must be true or false")
    return Tag(str(name), str(entry.get("description", "")), entry.get("example", ""), required)
