"""A plain-text rendering of an HTML email body, with the standard library only.

Block elements become paragraphs, list items get a dash, links keep their
address after the text, and style, script and head content is dropped.
"""

from __future__ import annotations

import re
import textwrap
from html.parser import HTMLParser

_BLOCKS = frozenset(
    {
        "address",
        "article",
        "aside",
        "blockquote",
        "div",
        "dl",
        "dt",
        "dd",
        "footer",
        "form",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "header",
        "hr",
        "li",
        "main",
        "nav",
        "ol",
        "p",
        "pre",
        "section",
        "table",
        "tbody",
        "thead",
        "tfoot",
        "tr",
        "ul",
    }
)
_HIDDEN = frozenset({"head", "script", "style", "template", "title"})
_SPACE = re.compile(r"\s+")


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.paragraphs: list[str] = []
        self.line: list[str] = []
        self.hidden = 0
        self.links: list[str | None] = []
        self.link_text: list[str] = []

    def _flush(self) -> None:
        text = _SPACE.sub(" ", "".join(self.line)).strip()
        if text:
            self.paragraphs.append(text)
        self.line = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _HIDDEN:
            self.hidden += 1
        elif tag == "br":
            self._flush()
        elif tag in _BLOCKS:
            self._flush()
            if tag == "li":
                self.line.append("- ")
        elif tag == "a":
            self.links.append(dict(attrs).get("href"))
            self.link_text.append("")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br" or tag in _BLOCKS:
            self._flush()

    def handle_endtag(self, tag: str) -> None:
        if tag in _HIDDEN:
            self.hidden = max(self.hidden - 1, 0)
        elif tag in _BLOCKS:
            self._flush()
        elif tag in ("td", "th"):
            self.line.append(" ")
        elif tag == "a" and self.links:
            href, text = self.links.pop(), self.link_text.pop()
            if href and href.startswith(("http://", "https://", "mailto:")):
                shown = href.removeprefix("mailto:")
                if shown not in text:
                    self.line.append(f" ({shown})")

    def handle_data(self, data: str) -> None:
        if self.hidden:
            return
        self.line.append(data)
        if self.link_text:
            self.link_text[-1] += data


def text_from_html(html: str, width: int = 78) -> str:
    """``html`` as readable plain text, wrapped at ``width`` columns."""
    parser = _Text()
    parser.feed(html)
    parser.close()
    parser._flush()
    wrapped = (
        textwrap.fill(p, width, break_long_words=False, break_on_hyphens=False)
        for p in parser.paragraphs
    )
    return "\n\n".join(wrapped) + "\n"
