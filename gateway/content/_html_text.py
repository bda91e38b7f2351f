"""A plain-text rendering of an HTML email body, with the standard library only.

Block elements become paragraphs, list items get a dash, links keep their
address after the text, and style, script and head content is dropped, as is
an element styled ``display: none`` (an email's preheader, say).
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
# Elements that have no end tag, so cannot hide what follows them.
_VOID = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "meta", "wbr"})
_DISPLAY_NONE = re.compile(r"(?:^|;)\s*display\s*:\s*none\s*(?:!important\s*)?(?:;|$)", re.I)
_SPACE = re.compile(r"\s+")


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.paragraphs: list[str] = []
        self.line: list[str] = []
        self.hidden = 0
        self.links: list[str | None] = []
        self.link_text: list[str] = []
        # The element styled display: none that hides what is inside it, and
        # how many elements of its name are open inside it, so that its own
        # end tag is the one that shows the text again.
        self.unseen: tuple[str, int] | None = None

    def _flush(self) -> None:
        text = _SPACE.sub(" ", "".join(self.line)).strip()
        if text:
            self.paragraphs.append(text)
        self.line = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.unseen is not None:
            name, depth = self.unseen
            if tag == name:
                self.unseen = (name, depth + 1)
            return
        style = dict(attrs).get("style") or ""
        if tag not in _VOID and _DISPLAY_NONE.search(style):
            self.unseen = (tag, 1)
        elif tag in _HIDDEN:
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
        if self.unseen is None and (tag == "br" or tag in _BLOCKS):
            self._flush()

    def handle_endtag(self, tag: str) -> None:
        if self.unseen is not None:
            name, depth = self.unseen
            if tag == name:
                self.unseen = (name, depth - 1) if depth > 1 else None
            return
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
        if self.hidden or self.unseen is not None:
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
