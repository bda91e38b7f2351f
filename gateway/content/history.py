"""What one template version changed from another, part by part.

A diff is data here (kinds, texts, line numbers), never markup: the console
escapes it as it escapes anything a user wrote, and the CLI and the API get
the familiar unified diff from the same lines.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

from gateway.store import TemplateParts

# Lines of context kept around each change, as ``diff -u`` keeps them.
CONTEXT = 3
PARTS = ("subject", "html", "text")

Kind = Literal["hunk", "same", "removed", "added"]


@dataclass(frozen=True)
class DiffLine:
    kind: Kind
    text: str
    old: int | None = None  # line number in the older text, from 1
    new: int | None = None  # line number in the newer text, from 1


@dataclass(frozen=True)
class PartDiff:
    """The changes to one part (subject, html, text) between two versions."""

    part: str
    old_label: str
    new_label: str
    lines: tuple[DiffLine, ...]

    @property
    def changed(self) -> bool:
        return bool(self.lines)

    def unified(self) -> str:
        """The changes as ``diff -u`` writes them."""
        if not self.lines:
            return ""
        marks = {"hunk": "", "same": " ", "removed": "-", "added": "+"}
        head = [f"--- {self.part} ({self.old_label})", f"+++ {self.part} ({self.new_label})"]
        return "\n".join(head + [marks[line.kind] + line.text for line in self.lines]) + "\n"


def diff_parts(
    old: TemplateParts, new: TemplateParts, old_label: str, new_label: str
) -> list[PartDiff]:
    """Each part's changes from ``old`` to ``new``, in the order subject, html, text."""
    return [
        PartDiff(
            part,
            old_label,
            new_label,
            tuple(_lines(getattr(old, part).splitlines(), getattr(new, part).splitlines())),
        )
        for part in PARTS
    ]


def _lines(old: list[str], new: list[str]) -> Iterator[DiffLine]:
    matcher = difflib.SequenceMatcher(None, old, new, autojunk=False)
    for group in matcher.get_grouped_opcodes(CONTEXT):
        first, last = group[0], group[-1]
        yield DiffLine(
            "hunk",
            f"@@ -{_range(first[1], last[2])} +{_range(first[3], last[4])} @@",
        )
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                for offset, text in enumerate(old[i1:i2]):
                    yield DiffLine("same", text, i1 + offset + 1, j1 + offset + 1)
                continue
            for offset, text in enumerate(old[i1:i2]):
                yield DiffLine("removed", text, old=i1 + offset + 1)
            for offset, text in enumerate(new[j1:j2]):
                yield DiffLine("added", text, new=j1 + offset + 1)


def _range(start: int, stop: int) -> str:
    """A hunk's range as unified diffs write it: first line (from 1) and length."""
    length = stop - start
    if length == 1:
        return str(start + 1)
    return f"{start + 1 if length else start},{length}"
