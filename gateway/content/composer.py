"""From an email type and tag values to a branded message, and the edits behind it.

The ``Composer`` is the one place that knows which template is in force: the
newest edited version in the store, else the shipped default in templates/.
It keeps the templates and the brand it read, and before each compose reads
one number from the store, the saved version, which every change of a saved
setting or template moves in its own transaction: while the number stays,
what it read is still in force; once it moves, the next compose reads
again. So a change saved by ``herald templates set`` in another process, or
on another node sharing the store, applies to the running daemon at its
next message. Compiled templates are cached by their text, which a new
version always changes.

It also holds the operations the admin API and the CLI share: validate and
save, history, rollback, reset, preview and send a test.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.headerregistry import Address
from pathlib import Path
from typing import Any, Protocol

import css_inline
import structlog

from gateway import brand as branding
from gateway.addresses import check_address, check_header_text
from gateway.config import SHIPPED_TEMPLATES, Config
from gateway.content import mime, workers
from gateway.content._html_text import text_from_html
from gateway.content.catalog import Catalog, EmailType
from gateway.content.history import PartDiff, diff_parts
from gateway.content.mime import cleanup
from gateway.content.templating import (
    FILES,
    InvalidTemplate,
    Limits,
    TemplateError,
    Templates,
)
from gateway.context import Event
from gateway.draft import Draft
from gateway.errors import InvalidEvent, InvalidInput, NotFoundError, UnsafeHeader
from gateway.store import Cleaned, SettingsStore, TemplateParts, TemplateStore, TemplateVersion

log = structlog.get_logger(__name__)

_INLINER = css_inline.CSSInliner(
    # @media rules cannot be inlined; they stay in a <style> for the clients
    # that read it, while Gmail and Outlook get the inlined style attributes.
    keep_at_rules=True,
    load_remote_stylesheets=False,
)


class ComposerStore(TemplateStore, SettingsStore, Protocol):
    """The template versions, and the brand saved among the settings."""


@dataclass(frozen=True)
class Composed:
    email_type: str
    version: int | None  # the edited version in force; None for the shipped default
    subject: str
    html: str
    text: str
    message: Draft
    logo: branding.Logo | None = None

    def viewable_html(self) -> str:
        """The HTML as a browser can show it outside a mail client: the logo's
        ``cid:`` reference (RFC 2392), which only a mail client resolves,
        becomes a ``data:`` URL of the same image."""
        if self.logo is None:
            return self.html
        encoded = base64.b64encode(self.logo.data).decode()
        return self.html.replace(
            f"cid:{branding.LOGO_CID}", f"data:image/{self.logo.subtype};base64,{encoded}"
        )


@dataclass
class _Saved:
    """What the store held at one saved version, as far as it was read."""

    version: int
    brand: tuple[dict[str, Any], branding.Logo | None] | None = None
    # The edited template in force and its version, None for the shipped one.
    parts: dict[str, tuple[TemplateParts, int] | None] = field(default_factory=dict)


@dataclass(frozen=True)
class TemplateSummary:
    """One email type as the templates list shows it."""

    entry: EmailType
    shipped: bool  # a shipped default exists
    latest: TemplateVersion | None  # the newest version (a reset too), None if never edited

    @property
    def version(self) -> int | None:
        """The edited version in force; None while the shipped default is."""
        if self.latest is None or self.latest.parts is None:
            return None
        return self.latest.version


def event_variables(event: Event) -> dict[str, Any]:
    """The template variables of a platform event (the brand is added later)."""
    return {
        "recipient": {
            "kind": event.recipient.kind,
            "id": event.recipient.id,
            "name": event.recipient.name,
            "email": event.recipient.email,
        },
        "event": {
            "id": event.id,
            "type": event.type,
            "occurred_at": event.occurred_at.isoformat(),
        },
        "data": event.data,
    }


def inline_css(html: str) -> str:
    """``html`` with its stylesheet copied into ``style`` attributes."""
    try:
        inlined: str = _INLINER.inline(html)
    except ValueError as exc:
        raise TemplateError(f"the CSS could not be inlined: {exc}") from exc
    return inlined


def render_message(
    directory: Path,
    limits: Limits,
    email_type: str,
    parts: TemplateParts,
    values: Mapping[str, Any],
    *,
    sender: Address,
    to: list[Address],
    message_id: str,
    logo: branding.Logo | None,
) -> tuple[str, str, str, Draft]:
    """A template rendered into its message, in the process that runs it: the
    subject, the HTML with its CSS inlined, the text part (derived from the
    HTML when the template has none) and the message written."""
    templates = workers.templates(directory, limits)
    rendered = templates.render(email_type, parts, values)
    html = inline_css(rendered.html)
    text = rendered.text or text_from_html(html)
    message = mime.compose(
        sender=sender,
        to=to,
        subject=rendered.subject,
        text=text,
        html=html,
        message_id=message_id,
        logo=logo,
    )
    return rendered.subject, html, text, message


class Composer:
    def __init__(
        self, config: Config, store: ComposerStore, templates: Templates, catalog: Catalog
    ):
        self.config = config
        self.store = store
        self.templates = templates
        self.catalog = catalog
        self._saved_read: _Saved | None = None

    @classmethod
    def for_config(cls, config: Config, store: ComposerStore) -> Composer:
        limits = Limits(
            render_timeout=config.render_timeout,
            max_output=config.max_render_size,
            max_source=config.max_template_size,
        )
        return cls(
            config,
            store,
            Templates(config.templates_dir, limits),
            Catalog.load(config.templates_dir, fallback=SHIPPED_TEMPLATES),
        )

    # Brand

    async def brand(self) -> dict[str, Any]:
        """The configured brand with the saved values over it, as templates see it."""
        values, _ = await self.brand_and_logo()
        return values

    async def _in_force(self) -> _Saved:
        """What was read at the store's saved version, or a fresh start when
        the version moved since (one read of one row)."""
        version = await self.store.saved_version()
        held = self._saved_read
        if held is None or held.version != version:
            # Read after the version: what is read next is at least as new.
            held = self._saved_read = _Saved(version)
        return held

    async def brand_and_logo(
        self,
        changes: Mapping[str, Any] | None = None,
        logo: branding.Logo | None = None,
        *,
        forget_logo: bool = False,
        saved: _Saved | None = None,
    ) -> tuple[dict[str, Any], branding.Logo | None]:
        """The brand in force and the logo image (saved, else configured), if any;
        with ``changes`` (validated, None forgets a saved value) and a ``logo``
        (or ``forget_logo``: the saved one forgotten), the brand they would
        make, unsaved (and not kept).
        ``brand.logo`` is what an <img src> needs: the logo's cid, else logo_url."""
        if changes is not None or logo is not None or forget_logo:
            return await self._read_brand(changes, logo, forget_logo=forget_logo)
        saved = saved or await self._in_force()
        if saved.brand is None:
            saved.brand = await self._read_brand(None, None, forget_logo=False)
        values, held = saved.brand
        return dict(values), held

    async def _read_brand(
        self,
        changes: Mapping[str, Any] | None,
        logo: branding.Logo | None,
        *,
        forget_logo: bool,
    ) -> tuple[dict[str, Any], branding.Logo | None]:
        stored = await self.store.read_settings(branding.SETTING)
        if forget_logo and logo is None:
            logo = self.config.logo
        elif logo is None:
            saved_logo = stored.get(branding.LOGO_SETTING)
            logo = branding.Logo.from_json(saved_logo) if saved_logo else self.config.logo
        values = {**self.config.brand, **_merged(stored.get(branding.SETTING, {}), changes)}
        values["logo"] = f"cid:{branding.LOGO_CID}" if logo else values.get("logo_url", "")
        return values, logo

    async def update_brand(self, changes: Mapping[str, Any], *, actor: str) -> dict[str, Any]:
        """Validate and save brand values (None forgets a saved value); the
        change goes to the audit log."""
        saved = (await self.store.read_settings(branding.SETTING)).get(branding.SETTING, {})
        merged = _merged(saved, changes)
        await self.store.write_setting(branding.SETTING, merged or None, actor=actor)
        return await self.brand()

    async def preview_brand(
        self,
        changes: Mapping[str, Any] | None = None,
        logo: bytes | None = None,
        filename: str = "logo",
        *,
        forget_logo: bool = False,
        email_type: str | None = None,
    ) -> Composed:
        """A sample email (``email_type``, else the first in the catalog that
        has a template) wearing the brand that ``changes`` and a new ``logo``
        image (or forgetting the saved one) would make, checked as saving them
        would check, saved nowhere."""
        new_logo = None
        if logo is not None:
            try:
                new_logo = branding.logo_from_bytes(logo, filename)
            except ValueError as exc:
                raise InvalidInput("#/logo", str(exc)) from exc
        brand = await self.brand_and_logo(changes or {}, new_logo, forget_logo=forget_logo)
        if email_type is None:
            email_type = next(
                (name for name in self.catalog.names() if self.templates.has(name)), None
            )
            if email_type is None:
                raise NotFoundError("no email type has a template to preview the brand in")
        variables = self.sample(email_type)
        to = _recipient_address(variables["recipient"])
        composed, _ = await self._compose_sample(email_type, variables, to, "brand", brand=brand)
        return composed

    async def update_logo(
        self, data: bytes | None, filename: str = "logo", *, actor: str
    ) -> dict[str, Any]:
        """Save an image as the logo (``InvalidInput`` if it is none), or with
        None forget the saved one so that ``[brand] logo_file`` applies again."""
        value = None
        if data is not None:
            try:
                value = branding.logo_from_bytes(data, filename).as_json()
            except ValueError as exc:
                raise InvalidInput("#/logo", str(exc)) from exc
        # The audit log says the image changed without keeping a copy of it.
        await self.store.write_setting(
            branding.LOGO_SETTING, value, actor=actor, secret_fields=("data",)
        )
        return await self.brand()

    # Rendering

    def entry(self, email_type: str) -> EmailType:
        return self.catalog.get(email_type)

    async def parts(
        self, email_type: str, saved: _Saved | None = None
    ) -> tuple[TemplateParts, int | None]:
        """The template in force and its version (None: the shipped default)."""
        saved = saved or await self._in_force()
        if email_type not in saved.parts:
            current = await self.store.current_template(email_type)
            edited = None
            if current is not None and current.parts is not None:
                edited = current.parts, current.version
            saved.parts[email_type] = edited
        held = saved.parts[email_type]
        if held is not None:
            return held
        if not self.templates.has(email_type):
            raise NotFoundError(f"no template for email type {email_type!r}")
        return self.templates.shipped(email_type), None

    def require(self, email_type: str, data: Mapping[str, Any]) -> None:
        """``InvalidEvent`` naming each required data tag ``data`` lacks, each
        with its own pointer."""
        entry = self.catalog.types.get(email_type)
        missing = entry.missing(data) if entry else []
        if missing:
            raise InvalidEvent(
                [
                    (f"#/data/{tag.field}", f"the required tag {tag.name} has no value")
                    for tag in missing
                ]
            )

    def sample(self, email_type: str, supplied: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Variables from the catalog's examples; ``supplied`` (an event-shaped
        object) replaces the data and overrides recipient and event fields."""
        variables = self.entry(email_type).sample()
        if supplied is None:
            return variables
        if not isinstance(supplied, Mapping):
            raise InvalidInput("#", "the data must be a JSON object")
        for key in ("data", "recipient"):
            if not isinstance(supplied.get(key, {}), Mapping):
                raise InvalidInput(f"#/{key}", "must be an object")
        if "data" in supplied:
            variables["data"] = dict(supplied["data"])
        variables["recipient"] |= dict(supplied.get("recipient", {}))
        for key in ("id", "occurred_at"):
            if key in supplied:
                variables["event"][key] = supplied[key]
        self.require(email_type, variables["data"])
        return variables

    async def compose(
        self,
        email_type: str,
        variables: Mapping[str, Any],
        *,
        to: list[Address],
        message_id: str,
        parts: TemplateParts | None = None,
        brand: tuple[dict[str, Any], branding.Logo | None] | None = None,
    ) -> Composed:
        """Render ``email_type`` (or the given draft ``parts``) into a message,
        wearing the brand in force (or a proposed ``brand`` and its logo)."""
        version = None
        saved = await self._in_force()
        if parts is None:
            parts, version = await self.parts(email_type, saved)
        brand_values, logo = brand if brand is not None else await self.brand_and_logo(saved=saved)
        sender = self.config.sender
        # Rendering, CSS inlining and MIME are CPU work: they run in a worker
        # process (``gateway.content.workers``), with the sandbox's limits.
        subject, html, text, message = await workers.run(
            render_message,
            self.templates.directory,
            self.templates.limits,
            email_type,
            parts,
            {**variables, "brand": brand_values},
            sender=mime.mailbox(sender.address, sender.name),
            to=to,
            message_id=message_id,
            logo=logo,
        )
        return Composed(email_type, version, subject, html, text, message, logo)

    async def subject(self, email_type: str, variables: Mapping[str, Any]) -> str:
        """The subject that ``email_type``'s template in force makes of
        ``variables`` (with the brand in force), checked as a header: what a
        message composed after the commit will carry. Rendering the subject
        alone is cheap, so a subject the sender's data would break is refused
        before the answer (``UnsafeHeader``), not found after it."""
        saved = await self._in_force()
        parts, _ = await self.parts(email_type, saved)
        brand, _ = await self.brand_and_logo(saved=saved)
        subject = await self.templates.run(
            self._subject, email_type, parts.subject, {**variables, "brand": brand}
        )
        try:
            return check_header_text(subject, "the Subject header")
        except ValueError as exc:
            raise UnsafeHeader(str(exc)) from exc

    def _subject(self, email_type: str, source: str, values: Mapping[str, Any]) -> str:
        templates = self.templates
        name = f"{email_type}/{FILES['subject']}"
        # Compiled first, so the time limit bounds the render alone.
        templates.render_string(name, source, None)
        with templates.budget():
            rendered = templates.render_string(name, source, templates.tag_values(values))
        return " ".join(rendered.split())

    async def wrap(
        self, variables: Mapping[str, Any], *, html: str, text: str
    ) -> tuple[str, str, branding.Logo | None]:
        """Legacy content inside the brand layout: its HTML (markup kept), its
        text, and the logo the HTML refers to."""
        brand, logo = await self.brand_and_logo()
        values = {**variables, "brand": brand, "content": html}
        wrapped_html, wrapped_text = await self.templates.run(self._wrap, values, text)
        return wrapped_html, wrapped_text, logo

    def _wrap(self, values: Mapping[str, Any], text: str) -> tuple[str, str]:
        with self.templates.budget():
            wrapped_html = self.templates.render_string(
                "brand-layout.html",
                '{% extends "_layout.html" %}{% block content %}{{ content|safe }}{% endblock %}',
                values,
            )
            wrapped_text = self.templates.render_string(
                "brand-layout.txt",
                '{% extends "_layout.txt" %}{% block content %}{{ content }}{% endblock %}',
                {**values, "content": text},
            )
        return inline_css(wrapped_html), wrapped_text

    # Editing

    async def summaries(self) -> list[TemplateSummary]:
        """Every email type of the catalog with its newest version, in name order."""
        latest = await self.store.latest_template_versions()
        return [
            TemplateSummary(self.catalog.types[name], self.templates.has(name), latest.get(name))
            for name in self.catalog.names()
        ]

    async def save(
        self,
        email_type: str,
        *,
        subject: str | None = None,
        html: str | None = None,
        text: str | None = None,
        note: str = "",
        actor: str = "",
    ) -> TemplateVersion:
        """Validate the template with the given parts changed and save it as
        a new version; ``InvalidTemplate`` and nothing saved when it is bad."""
        if subject is None and html is None and text is None:
            raise InvalidInput("#", "give at least one of subject, html and text")
        current, _ = await self.parts(email_type)
        draft = TemplateParts(
            subject=current.subject if subject is None else subject,
            html=current.html if html is None else html,
            text=current.text if text is None else text,
        )
        await self.check(email_type, draft)
        await self._trial(email_type, draft)
        return self._saved(
            await self.store.add_template_version(email_type, "save", draft, note, actor=actor)
        )

    async def check(self, email_type: str, parts: TemplateParts) -> None:
        """``Templates.check`` (a trial render) in a render thread."""
        await self.templates.run(self.templates.check, self.entry(email_type), parts)

    async def _trial(self, email_type: str, parts: TemplateParts) -> None:
        """Refuse ``parts`` with ``InvalidTemplate`` when the message they make
        with the catalog's examples and the brand in force would be refused at
        the queue's entrance: such a template would fail every email of its type."""
        variables = self.entry(email_type).sample()
        message_id = f"<check.{secrets.token_hex(8)}@{self.config.hostname}>"
        try:
            composed = await self.compose(
                email_type,
                variables,
                to=[_recipient_address(variables["recipient"])],
                message_id=message_id,
                parts=parts,
            )
        except TemplateError as exc:
            # Rendering passed templates.check; what is left is the HTML's CSS.
            raise InvalidTemplate([("#/html", str(exc))]) from exc
        try:
            cleanup(composed.message, message_id=message_id)
        except UnsafeHeader as exc:
            raise InvalidTemplate([("#/subject", exc.reason)]) from exc

    @staticmethod
    def _saved(version: TemplateVersion) -> TemplateVersion:
        log.info(
            "template_saved",
            email_type=version.email_type,
            version=version.version,
            action=version.action,
        )
        return version

    async def history(
        self, email_type: str, *, before: int | None = None, limit: int | None = None
    ) -> list[TemplateVersion]:
        """The versions of ``email_type``, newest first (a page of ``limit``
        older than ``before``, when given)."""
        self.entry(email_type)
        return await self.store.template_versions(email_type, before=before, limit=limit)

    async def version_parts(self, email_type: str, version: int) -> TemplateParts:
        """The texts ``version`` put in force (a reset: the shipped default);
        version 0 is the shipped default."""
        if version == 0:
            return self.templates.shipped(email_type)
        found = await self.store.template_version(email_type, version)
        return found.parts if found.parts is not None else self.templates.shipped(email_type)

    async def compare(
        self, email_type: str, version: int, against: int | None = None
    ) -> list[PartDiff]:
        """What ``version`` changed from ``against`` (by default the version
        before it; 0 is the shipped default), part by part."""
        self.entry(email_type)
        if against is None:
            against = version - 1
        old = await self.version_parts(email_type, against)
        new = await self.version_parts(email_type, version)
        old_label = f"version {against}" if against else "the shipped default"
        return diff_parts(old, new, old_label, f"version {version}")

    async def rollback(self, email_type: str, version: int, *, actor: str = "") -> TemplateVersion:
        """Bring back ``version`` as a new version (history is never rewritten)."""
        old = await self.store.template_version(email_type, version)
        if old.parts is None:
            return await self.reset(email_type, actor=actor)
        # A catalog change since may have retired a tag the old version uses,
        # and a brand change may have made its subject unsafe.
        await self.check(email_type, old.parts)
        await self._trial(email_type, old.parts)
        return self._saved(
            await self.store.add_template_version(
                email_type, "rollback", old.parts, f"rollback to version {version}", actor=actor
            )
        )

    async def reset(self, email_type: str, *, actor: str = "") -> TemplateVersion:
        """Back to the shipped default; the edited versions stay in the history."""
        self.entry(email_type)
        if not self.templates.has(email_type):
            raise NotFoundError(f"email type {email_type!r} has no shipped template")
        return self._saved(
            await self.store.add_template_version(
                email_type, "reset", None, "reset to default", actor=actor
            )
        )

    async def preview(
        self,
        email_type: str,
        supplied: Mapping[str, Any] | None = None,
        draft: Mapping[str, str | None] | None = None,
    ) -> Composed:
        """The message ``email_type`` makes with sample (or supplied) data;
        a ``draft`` of changed parts is validated and previewed unsaved."""
        parts = None
        if draft and any(draft.get(part) is not None for part in FILES):
            current, _ = await self.parts(email_type)
            parts = TemplateParts(
                **{part: draft.get(part) or getattr(current, part) for part in FILES}
            )
            await self.check(email_type, parts)
        variables = self.sample(email_type, supplied)
        to = _recipient_address(variables["recipient"])
        pointer = "#/subject" if draft and draft.get("subject") is not None else "#/event"
        composed, _ = await self._compose_sample(
            email_type, variables, to, "preview", parts, pointer=pointer
        )
        return composed

    async def test_message(
        self, email_type: str, to: str, supplied: Mapping[str, Any] | None = None
    ) -> Cleaned:
        """``email_type`` composed for ``to`` with the catalog's samples over
        ``supplied``, ready to queue: what a test send hands to the upstream."""
        try:
            check_address(to)
        except ValueError as exc:
            raise InvalidInput("#/to", str(exc)) from exc
        variables = self.sample(email_type, supplied)
        variables["recipient"]["email"] = to
        variables["event"].setdefault("occurred_at", datetime.now(UTC).isoformat())
        _, content = await self._compose_sample(email_type, variables, mime.mailbox(to), "test")
        return content

    async def _compose_sample(
        self,
        email_type: str,
        variables: Mapping[str, Any],
        to: Address,
        purpose: str,
        parts: TemplateParts | None = None,
        *,
        pointer: str = "#/event",
        brand: tuple[dict[str, Any], branding.Logo | None] | None = None,
    ) -> tuple[Composed, Cleaned]:
        """Compose with admin-chosen values and hold the message to the
        queue's rule: a failing render is the admin's input at fault (422),
        not a crash, and so is a header the queue would refuse (``pointer``)."""
        message_id = f"<{purpose}.{secrets.token_hex(8)}@{self.config.hostname}>"
        try:
            composed = await self.compose(
                email_type, variables, to=[to], message_id=message_id, parts=parts, brand=brand
            )
        except TemplateError as exc:
            raise InvalidInput("#/event", str(exc)) from exc
        try:
            return composed, cleanup(composed.message, message_id=message_id)
        except UnsafeHeader as exc:
            raise InvalidInput(pointer, exc.reason) from exc


def _merged(saved: Mapping[str, Any], changes: Mapping[str, Any] | None) -> dict[str, Any]:
    """The saved brand values with validated ``changes`` over them; a None
    change forgets the saved value."""
    checked = branding.check(changes or {})
    return {k: v for k, v in {**saved, **checked}.items() if v is not None}


def _recipient_address(recipient: Mapping[str, Any]) -> Address:
    email = str(recipient.get("email") or "")
    try:
        check_address(email)
    except ValueError as exc:
        raise InvalidInput("#/recipient/email", str(exc)) from exc
    return mime.mailbox(email, str(recipient.get("name") or ""))
