"""The Brand page: the logo, colours, background, footer and company details
every email wears, each change shown in a sample email before it is saved.

Values are checked by ``gateway.brand.check`` and the logo by
``gateway.brand.logo_from_bytes`` (its type by its signature, its size), as
for ``herald brand`` and ``/v1/brand``; the sample is
``Composer.preview_brand``, which saves nothing. The preview is a document
of its own under the email preview's policy, in a sandboxed frame; the
page's script (``static/brand.js``) posts the form to it as it changes.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from gateway import brand as branding
from gateway.console import (
    Console,
    Link,
    console_of,
    field_errors,
    flash,
    form_text,
    redirect,
    render,
    requires,
)
from gateway.console.email_templates import Placed, fault_document, preview_response
from gateway.content.composer import Composer
from gateway.errors import InvalidInput

PRIVILEGE = "settings:manage"
NAV = (Link("Brand", "/brand", PRIVILEGE),)
# The text fields of the form, in its order, and how the page names them.
FIELDS = {
    "name": "Company name",
    "support_email": "Support email",
    "website": "Website",
    "logo_url": "Logo URL",
    "primary_color": "Primary colour",
    "background_color": "Background colour",
    "text_color": "Text colour",
    "footer": "Footer",
    "links": "Links",
    "logo": "Logo",
}
COLOURS = (
    ("primary_color", "Primary colour (header, buttons)"),
    ("background_color", "Background"),
    ("text_color", "Text colour"),
)


def _composer(request: web.Request) -> Composer:
    # The composer in force is read per request: a reload may replace it.
    return console_of(request).api.services.composer


def links_text(links: Any) -> str:
    """The brand's links as the form shows them: a label and its URL per line."""
    if not isinstance(links, list):
        return ""
    return "\n".join(f"{link['label']} {link['url']}" for link in links)


def parse_links(text: str) -> list[dict[str, str]]:
    """``Label words https://url`` lines as brand links; the URL is the last word."""
    links = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        label, _, url = line.strip().rpartition(" ")
        if not label.strip():
            raise InvalidInput("#/links", f"line {number}: give a label, a space, then the URL")
        links.append({"label": label.strip(), "url": url})
    return links


def changes_from(form: Mapping[str, Any], current: Mapping[str, Any]) -> dict[str, Any]:
    """The brand values the form changes from those in force."""
    changes: dict[str, Any] = {}
    for key in FIELDS:
        if key in ("logo",) or key not in form:
            continue
        value: Any = form_text(form, key, limit=2000)
        if key == "links":
            value = parse_links(value)
        if value != current.get(key, branding.DEFAULTS.get(key)):
            changes[key] = value
    return changes


def uploaded_logo(form: Mapping[str, Any]) -> tuple[bytes, str] | None:
    """The image a form uploads as the logo, if one was chosen."""
    field = form.get("logo")
    if not isinstance(field, web.FileField) or not field.filename:
        return None
    data = field.file.read(branding.MAX_LOGO + 1)
    if not data:
        return None
    return data, field.filename


def sample_type(composer: Composer, chosen: Any) -> str | None:
    """The email type the sample wears the brand in: the chosen one if it has
    a template, else None (``preview_brand`` then picks the first)."""
    if (
        isinstance(chosen, str)
        and chosen in composer.catalog.types
        and composer.templates.has(chosen)
    ):
        return chosen
    return None


def _errors(error: InvalidInput) -> dict[str, str]:
    # "#/links/0/url" is a fault of the links field.
    return {name.partition("/")[0]: detail for name, detail in field_errors(error).items()}


async def _page(
    request: web.Request,
    *,
    status: int = 200,
    errors: Mapping[str, str] | None = None,
    posted: Mapping[str, Any] | None = None,
) -> web.Response:
    composer = _composer(request)
    values, logo = await composer.brand_and_logo()
    saved = await composer.store.read_settings(branding.SETTING)
    shown = {key: values.get(key, "") for key in FIELDS if key not in ("logo", "links")}
    shown["links"] = links_text(values.get("links"))
    if posted:
        shown |= {key: posted[key] for key in shown if isinstance(posted.get(key), str)}
    logo_url = None
    if logo is not None:
        encoded = base64.b64encode(logo.data).decode()
        logo_url = f"data:image/{logo.subtype};base64,{encoded}"
    return render(
        request,
        "brand.html",
        status=status,
        shown=shown,
        logo=logo,
        logo_url=logo_url,
        logo_saved=branding.LOGO_SETTING in saved,
        colours=COLOURS,
        labels=FIELDS,
        errors=dict(errors or {}),
        samples=[name for name in composer.catalog.names() if composer.templates.has(name)],
        sample=sample_type(composer, (posted or {}).get("sample")),
        max_logo=f"{branding.MAX_LOGO // 1024} KiB",
    )


@requires(PRIVILEGE)
async def page(request: web.Request) -> web.StreamResponse:
    return await _page(request)


@requires(PRIVILEGE)
async def save(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    composer = _composer(request)
    actor = console_of(request).actor(request)
    try:
        current = await composer.brand()
        changes = changes_from(form, current)
        logo = uploaded_logo(form)
        # Checked all together first, as the preview shows them, so that a
        # bad logo does not leave the colours saved without it.
        data, filename = logo or (None, "logo")
        await composer.preview_brand(changes, data, filename)
        if changes:
            await composer.update_brand(changes, actor=actor)
        if logo is not None:
            await composer.update_logo(*logo, actor=actor)
        elif form.get("remove_logo"):
            await composer.update_logo(None, actor=actor)
    except InvalidInput as exc:
        return await _page(request, status=422, errors=_errors(exc), posted=form)
    await flash(request, "The brand is saved; the next email wears it.")
    return redirect("/brand")


@requires(PRIVILEGE)
async def preview_in_force(request: web.Request) -> web.StreamResponse:
    composer = _composer(request)
    composed = await composer.preview_brand(
        email_type=sample_type(composer, request.query.get("sample"))
    )
    return preview_response(composed.viewable_html())


@requires(PRIVILEGE)
async def preview(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    composer = _composer(request)
    try:
        changes = changes_from(form, await composer.brand())
        data, filename = uploaded_logo(form) or (None, "logo")
        composed = await composer.preview_brand(
            changes,
            data,
            filename,
            forget_logo=bool(form.get("remove_logo")),
            email_type=sample_type(composer, form.get("sample")),
        )
    except InvalidInput as exc:
        faults = [
            Placed("", None, f"{FIELDS.get(name, name)}: {detail}", None)
            for name, detail in _errors(exc).items()
        ]
        return preview_response(fault_document(faults, "These values cannot be saved:"), status=422)
    return preview_response(composed.viewable_html())


def routes(console: Console) -> list[web.RouteDef]:
    return [
        web.get("/brand", page),
        web.post("/brand", save),
        web.get("/brand/preview", preview_in_force),
        web.post("/brand/preview", preview),
    ]
