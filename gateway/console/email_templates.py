"""The Email templates pages: every email type with its version, the editor
with its live preview, the tag drawer ("Click Here") and the Send Test Email
drawer, the history with a diff between versions, rollback and reset.

Every action is the ``Composer``'s (validate and save, preview, compare,
rollback, reset) or ``relay.template_test``, as for the admin API and the
CLI, so an error, a preview or a test send reads the same everywhere.

The pages work with plain form posts and ``<details>`` drawers; the editor's
script (``static/email_templates.js``) adds the preview as you type, tag
search and insertion, asking the same routes. A preview of an email's HTML
is a document of its own (``preview_response``) under a policy that allows
no script and no request, shown in a sandboxed frame.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from markupsafe import escape

from gateway.console import (
    Console,
    Link,
    console_of,
    flash,
    form_text,
    next_page,
    redirect,
    render,
    requires,
)
from gateway.content.composer import Composed, Composer
from gateway.content.templating import FILES, Fault, InvalidTemplate
from gateway.errors import InvalidInput
from gateway.queue import relay
from gateway.queue.diagnosis import Diagnosis
from gateway.store import Store, TemplateParts

PRIVILEGE = "templates:manage"
NAV = (Link("Email templates", "/templates", PRIVILEGE),)

# What a previewed email may do: show its own inline styles and the images
# it carries, and nothing else: no script, no request to anywhere, no form,
# no plugin. Only the console may frame it (frame-ancestors), and the frame's
# sandbox attribute takes script and origin away a second time.
PREVIEW_POLICY = (
    "default-src 'none'; img-src data: cid:; style-src 'unsafe-inline';"
    " base-uri 'none'; form-action 'none'; frame-ancestors 'self'; sandbox"
)
# The longest text a part may be posted with; the sandbox's own limit on a
# template's source (``[templates] max_template_size``) is checked after.
MAX_PART = 1_000_000
# Versions on one page of a template's history.
HISTORY_PAGE = 50


@dataclass(frozen=True)
class Placed:
    """A validation error where the editor shows it: the part, the line
    (None when the error names none) and that line's text."""

    part: str
    line: int | None
    detail: str
    source: str | None

    def as_json(self) -> dict[str, Any]:
        return {"part": self.part, "line": self.line, "detail": self.detail}


@dataclass(frozen=True)
class Answer:
    """What a test send came to, in words."""

    ok: bool
    words: str

    @classmethod
    def of(cls, diagnosis: Diagnosis, to: str) -> Answer:
        """What the way out answered a test send to ``to``."""
        said = "Sent" if diagnosis.ok else "Not sent"
        return cls(diagnosis.ok, f"{said} to {to}: {diagnosis.detail} (via {diagnosis.upstream})")


def composer_of(request: web.Request) -> Composer:
    # The composer in force is read per request: a reload may replace it.
    return console_of(request).api.services.composer


def draft_from(form: Mapping[str, Any]) -> dict[str, str]:
    """The template parts a form posts, exactly as typed but for the line
    endings: browsers send a textarea's lines ending in CR LF (HTML's form
    encoding), the store keeps LF. (The subject is a textarea too: an input
    field would drop the line breaks of a subject saved from a file.)"""
    draft = {}
    for part in FILES:
        if part in form:
            draft[part] = form_text_raw(form, part).replace("\r\n", "\n")
    return draft


def form_text_raw(form: Mapping[str, Any], name: str) -> str:
    """A posted text field as typed (``form_text`` strips it, which would
    change a template's first and last lines)."""
    value = form.get(name, "")
    if not isinstance(value, str):
        raise InvalidInput(f"#/{name}", "must be text")
    if len(value) > MAX_PART:
        raise InvalidInput(f"#/{name}", f"must be at most {MAX_PART} characters")
    return value


def place(error: InvalidInput, draft: Mapping[str, str]) -> list[Placed]:
    """Each error of ``error`` at its part and line, with that line's text."""
    faults = (
        error.faults
        if isinstance(error, InvalidTemplate)
        else [
            Fault(pointer.removeprefix("#/").partition("/")[0], None, detail)
            for pointer, detail in error.errors
        ]
    )
    placed = []
    for fault in faults:
        part = fault.part if fault.part in FILES else ""
        lines = draft.get(part, "").split("\n") if part else []
        source = None
        if fault.line is not None and 0 < fault.line <= len(lines):
            source = lines[fault.line - 1]
        placed.append(Placed(part, fault.line, fault.detail, source))
    return placed


def preview_response(html: str, *, status: int = 200) -> web.Response:
    """An email's HTML as a document of its own, under ``PREVIEW_POLICY``."""
    return web.Response(
        text=html,
        status=status,
        content_type="text/html",
        charset="utf-8",
        headers={
            "Content-Security-Policy": PREVIEW_POLICY,
            "X-Frame-Options": "SAMEORIGIN",
            "Referrer-Policy": "no-referrer",
            "Cache-Control": "no-store",
        },
    )


def fault_document(faults: list[Placed], heading: str = "This draft cannot be rendered:") -> str:
    """What the preview frame shows for a draft that cannot be rendered."""
    items = "".join(
        f"<li>{escape(f.part or 'template')}{escape(f', line {f.line}') if f.line else ''}:"
        f" {escape(f.detail)}</li>"
        for f in faults
    )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Not rendered</title>'
        f"</head><body><p>{escape(heading)}</p>"
        f"<ul>{items}</ul></body></html>"
    )


async def test_answer(store: Store, composer: Composer, email_type: str, to: str) -> Answer:
    """Send the test email the way Herald would send it now, and say what
    the way out answered."""
    return Answer.of(await relay.template_test(store, composer, email_type, to), to)


# Pages


@requires(PRIVILEGE)
async def list_page(request: web.Request) -> web.StreamResponse:
    summaries = await composer_of(request).summaries()
    return render(request, "email_templates.html", summaries=summaries)


async def _editor(
    request: web.Request,
    email_type: str,
    *,
    status: int = 200,
    draft: Mapping[str, str] | None = None,
    faults: list[Placed] | None = None,
    note: str = "",
    answer: Answer | None = None,
    test_to: str = "",
    test_open: bool = False,
) -> web.Response:
    composer = composer_of(request)
    entry = composer.entry(email_type)
    current, version = await composer.parts(email_type)
    parts = TemplateParts(
        **{part: (draft or {}).get(part, getattr(current, part)) for part in FILES}
    )
    composed: Composed | None = None
    problems = list(faults or [])
    try:
        composed = await composer.preview(email_type)
    except InvalidInput as exc:
        # The template in force no longer renders (a retired tag, say): say so.
        problems += place(exc, {})
    query = request.query.get("q", "")[:200]
    shown = {tag.name for tag in entry.search(query)}
    return render(
        request,
        "email_template.html",
        status=status,
        entry=entry,
        version=version,
        shipped=composer.templates.has(email_type),
        parts=parts,
        composed=composed,
        faults=problems,
        note=note,
        query=query,
        tags=[(tag, tag.name in shown) for tag in entry.tags],
        shown_count=len(shown),
        answer=answer,
        test_to=test_to,
        test_open=test_open or answer is not None,
        tags_open=bool(query),
    )


@requires(PRIVILEGE)
async def editor(request: web.Request) -> web.StreamResponse:
    return await _editor(request, request.match_info["type"])


@requires(PRIVILEGE)
async def save(request: web.Request) -> web.StreamResponse:
    email_type = request.match_info["type"]
    form = await request.post()
    draft = draft_from(form)
    note = form_text(form, "note", limit=200)
    composer = composer_of(request)
    current, version = await composer.parts(email_type)
    if version is not None and all(
        draft.get(p, getattr(current, p)) == getattr(current, p) for p in FILES
    ):
        # Saving the page as it is would only add a version identical to the last.
        await flash(request, f"Nothing changed: {email_type} stays at version {version}.")
        return redirect(f"/templates/{email_type}")
    try:
        saved = await composer.save(
            email_type, note=note, actor=console_of(request).actor(request), **draft
        )
    except InvalidInput as exc:
        return await _editor(
            request, email_type, status=422, draft=draft, faults=place(exc, draft), note=note
        )
    await flash(request, f"Saved {email_type} as version {saved.version}.")
    return redirect(f"/templates/{email_type}")


@requires(PRIVILEGE)
async def check(request: web.Request) -> web.StreamResponse:
    """A draft as it would be sent (subject and text), or its errors at their
    lines; for the editor's live preview."""
    email_type = request.match_info["type"]
    draft = draft_from(await request.post())
    try:
        composed = await composer_of(request).preview(email_type, draft=draft or None)
    except InvalidInput as exc:
        return web.json_response({"faults": [p.as_json() for p in place(exc, draft)]})
    return web.json_response({"faults": [], "subject": composed.subject, "text": composed.text})


@requires(PRIVILEGE)
async def preview_in_force(request: web.Request) -> web.StreamResponse:
    composed = await composer_of(request).preview(request.match_info["type"])
    return preview_response(composed.viewable_html())


@requires(PRIVILEGE)
async def preview_draft(request: web.Request) -> web.StreamResponse:
    email_type = request.match_info["type"]
    draft = draft_from(await request.post())
    try:
        composed = await composer_of(request).preview(email_type, draft=draft or None)
    except InvalidInput as exc:
        return preview_response(fault_document(place(exc, draft)), status=422)
    return preview_response(composed.viewable_html())


@requires(PRIVILEGE)
async def send_test(request: web.Request) -> web.StreamResponse:
    email_type = request.match_info["type"]
    form = await request.post()
    to = form_text(form, "to", limit=320)
    composer = composer_of(request)
    composer.entry(email_type)
    try:
        answer = await test_answer(console_of(request).api.store, composer, email_type, to)
    except InvalidInput as exc:
        answer = Answer(False, f"Not sent: {exc.detail}")
        return await _editor(request, email_type, status=422, answer=answer, test_to=to)
    return await _editor(request, email_type, answer=answer, test_to=to)


@requires(PRIVILEGE)
async def history(request: web.Request) -> web.StreamResponse:
    email_type = request.match_info["type"]
    composer = composer_of(request)
    entry = composer.entry(email_type)
    before_text = request.query.get("before")
    before = None if before_text is None else _number(before_text, "before")
    versions = await composer.history(email_type, before=before, limit=HISTORY_PAGE)
    _, in_force = await composer.parts(email_type)
    last = versions[-1].version if len(versions) == HISTORY_PAGE else None
    older = next_page(request, "before", last)
    return render(
        request,
        "email_template_history.html",
        entry=entry,
        versions=versions,
        in_force=in_force,
        older=older,
        first_page=before is None,
    )


@requires(PRIVILEGE)
async def version_page(request: web.Request) -> web.StreamResponse:
    email_type = request.match_info["type"]
    composer = composer_of(request)
    entry = composer.entry(email_type)
    number = _number(request.match_info["version"], "version")
    against_text = request.query.get("against")
    against = number - 1 if against_text is None else _number(against_text, "against")
    version = await composer.store.template_version(email_type, number)
    diffs = await composer.compare(email_type, number, against)
    # The versions to compare with: the shipped default, and those around this one.
    near = await composer.history(
        email_type, before=number + HISTORY_PAGE + 1, limit=2 * HISTORY_PAGE + 1
    )
    _, in_force = await composer.parts(email_type)
    return render(
        request,
        "email_template_version.html",
        entry=entry,
        version=version,
        diffs=diffs,
        against=against,
        choices=[(0, "the shipped default")]
        + [(v.version, f"version {v.version}") for v in reversed(near) if v.version != number],
        in_force=in_force == number,
    )


@requires(PRIVILEGE)
async def rollback(request: web.Request) -> web.StreamResponse:
    email_type = request.match_info["type"]
    form = await request.post()
    number = _number(form_text(form, "version", limit=12), "version")
    composer = composer_of(request)
    saved = await composer.rollback(email_type, number, actor=console_of(request).actor(request))
    await flash(
        request, f"Version {number} of {email_type} is back in force as version {saved.version}."
    )
    return redirect(f"/templates/{email_type}")


@requires(PRIVILEGE)
async def reset(request: web.Request) -> web.StreamResponse:
    email_type = request.match_info["type"]
    composer = composer_of(request)
    saved = await composer.reset(email_type, actor=console_of(request).actor(request))
    await flash(request, f"{email_type} is back to the shipped default (version {saved.version}).")
    return redirect(f"/templates/{email_type}")


def _number(text: str, name: str) -> int:
    if not (text.isascii() and text.isdigit() and len(text) <= 9):
        raise InvalidInput(f"#/{name}", f"must be a version number, not {text[:20]!r}")
    return int(text)


def routes(console: Console) -> list[web.RouteDef]:
    return [
        web.get("/templates", list_page),
        web.get("/templates/{type}", editor),
        web.post("/templates/{type}", save),
        web.post("/templates/{type}/check", check),
        web.get("/templates/{type}/preview", preview_in_force),
        web.post("/templates/{type}/preview", preview_draft),
        web.post("/templates/{type}/send-test", send_test),
        web.get("/templates/{type}/history", history),
        web.get("/templates/{type}/versions/{version}", version_page),
        web.post("/templates/{type}/rollback", rollback),
        web.post("/templates/{type}/reset", reset),
    ]
