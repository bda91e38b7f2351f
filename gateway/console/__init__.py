"""The console: Herald's pages for people, at ``/`` of the HTTP listener.

Each module here serves one family of pages (``signin``, ``overview``,
``runs``, ``messages``, ``queue``, ``customers``, ``senders``,
``definitions``, ``smtp``, ``delivery``, ``users``, ``audit``) with
``routes(console)`` and, for the navigation, ``NAV``. Pages are rendered on
the server by Jinja2 with the console's own environment (autoescape on; never
the sandbox that renders email) from ``templates/``, and ``static/`` holds
the CSS and the script, all shipped inside the wheel. Every page works before
any script loads; the script only makes it pleasant.

The console is a face beside ``admin/`` and ``cli/``: it may import them and
everything below, and does the work through what the admin API and the CLI
use (``gateway.settings``, ``gateway.entrance.delivery``, the store), never a
copy of it. A page names the scope it needs with ``@requires``; a role is a
set of those scopes (``gateway.settings.users.ROLES``), so it means the same
in the console, the API and the audit log, and every change is audited under
``console:<user>``.

Sessions live in the store (any node of a shared store reads them), found by
the digest of the cookie's secret, with an idle and an absolute expiry. Every
state-changing form carries the session's CSRF token and must come with the
console's own ``Origin``; every response carries a strict
Content-Security-Policy (no inline script or style, no other origin).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from types import ModuleType
from typing import Any
from urllib.parse import quote, urlsplit

import jinja2
import structlog
from aiohttp import web

from gateway import problems
from gateway.admin import Api, FailureLimiter
from gateway.clock import rfc3339
from gateway.decisions import answer
from gateway.errors import GatewayError, InvalidInput
from gateway.queue.pool import Guards
from gateway.queue.routing import Router
from gateway.settings.users import ADMIN, scopes_of
from gateway.settings.vault import Vault
from gateway.store import ConsoleSession

log = structlog.get_logger(__name__)

COOKIE = "herald_session"
# The console's pages forbid everything but their own files: no inline script
# or style, no other origin, no plugin, no framing by another site. A preview
# of an email's HTML is a sandboxed frame of srcdoc (frame-src 'self' covers
# it; its sandbox gives it no script and an opaque origin).
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:;"
    " connect-src 'self'; frame-src 'self'; form-action 'self'; base-uri 'none';"
    " frame-ancestors 'none'"
)
SECURITY_HEADERS: Mapping[str, str] = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Link:
    """One entry of the navigation, shown to users whose role has ``scope``
    (``None``: every signed-in user; ``users.ADMIN``: admins only)."""

    label: str
    path: str
    scope: str | None


@dataclass
class Console:
    """What the pages work with: the admin API's services and the console's own."""

    api: Api
    vault: Vault
    # The queue's router in force (a reload replaces it) and the upstreams' guards.
    router: Callable[[], Router]
    guards: Guards
    # Sessions end after this long without a request, and this long after sign-in.
    idle: float = 30 * 60
    absolute: float = 12 * 3600
    # Failed sign-ins are slowed per client address and per account name: past
    # ``limit`` failures a minute, one guess every 60/limit seconds, waiting its
    # turn (a right password included) rather than being refused.
    by_address: FailureLimiter = field(default_factory=lambda: FailureLimiter(limit=20))
    by_account: FailureLimiter = field(default_factory=lambda: FailureLimiter(limit=10))
    nav: list[Link] = field(default_factory=list)
    env: jinja2.Environment = field(init=False)

    def __post_init__(self) -> None:
        self.env = jinja2.Environment(
            loader=jinja2.PackageLoader("gateway.console", "templates"),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.filters["time"] = lambda at: rfc3339(at) if at else ""
        self.env.filters["age"] = _age
        self.env.filters["urlpart"] = lambda text: quote(str(text), safe="")

    def actor(self, request: web.Request) -> str:
        """Who the audit log names for a change made through this request."""
        return f"console:{session_of(request).user.name}"

    def routes(self) -> list[web.RouteDef]:
        found: list[web.RouteDef] = [web.get("/static/{name}", _static)]
        for module in modules():
            self.nav += getattr(module, "NAV", ())
            found += module.routes(self)
        return found

    def install(self, app: web.Application) -> None:
        app[CONSOLE] = self
        app.add_routes(self.routes())


def _age(seconds: float | None) -> str:
    """A duration as people say it: 45 s, 12 min, 3 h 5 min, 2 d 4 h."""
    if seconds is None:
        return ""
    whole = max(int(seconds), 0)
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        return f"{whole // 60} min"
    if whole < 86400:
        return f"{whole // 3600} h {whole % 3600 // 60} min"
    return f"{whole // 86400} d {whole % 86400 // 3600} h"


CONSOLE = web.AppKey("console", Console)
_SESSION = "console.session"


def modules() -> list[ModuleType]:
    """Every family of pages, in the order of the navigation."""
    from gateway.console import (
        audit,
        brand,
        customers,
        definitions,
        delivery,
        email_templates,
        messages,
        overview,
        queue,
        runs,
        senders,
        signin,
        smtp,
        users,
    )

    return [
        signin,
        overview,
        runs,
        messages,
        queue,
        email_templates,
        brand,
        customers,
        senders,
        definitions,
        smtp,
        delivery,
        users,
        audit,
    ]


def console_of(request: web.Request) -> Console:
    return request.app[CONSOLE]


def session_of(request: web.Request) -> ConsoleSession:
    """The signed-in session of a request that passed ``@requires``."""
    session: ConsoleSession = request[_SESSION]
    return session


def can(session: ConsoleSession | None, scope: str | None) -> bool:
    """Whether the session's user may do what ``scope`` guards."""
    if session is None:
        return False
    if scope is None:
        return True
    if scope == ADMIN:
        return session.user.role == ADMIN
    return scope in scopes_of(session.user.role)


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", errors="surrogateescape")).hexdigest()


async def current_session(request: web.Request) -> ConsoleSession | None:
    """The live session the request's cookie names, if any."""
    secret = request.cookies.get(COOKIE)
    if not secret or not secret.isascii() or len(secret) > 128:
        return None
    console = console_of(request)
    return await console.api.store.find_console_session(
        digest(secret), idle=console.idle, absolute=console.absolute
    )


def same_origin(request: web.Request) -> bool:
    """Whether a state-changing request comes from the console's own pages:
    its ``Origin`` (or, lacking one, its ``Referer``) is this listener's."""
    own = f"{request.scheme}://{request.host}"
    origin = request.headers.get("Origin")
    if origin is None:
        referer = request.headers.get("Referer")
        if referer is None:
            return False
        parts = urlsplit(referer)
        origin = f"{parts.scheme}://{parts.netloc}"
    return hmac.compare_digest(origin.encode(), own.encode())


def requires(scope: str | None) -> Callable[[Handler], Handler]:
    """Guard a page: a browser not signed in is sent to the sign-in page; a
    user whose role lacks ``scope`` gets 403; a POST must come from the
    console's origin and carry the session's CSRF token (field ``csrf``).
    ``scope`` is a token scope, ``users.ADMIN`` or ``None`` (any user)."""

    def decorate(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def guarded(request: web.Request) -> web.StreamResponse:
            session = await current_session(request)
            if session is None:
                if request.method in ("GET", "HEAD"):
                    target = request.path_qs
                    return redirect(f"/sign-in?next={quote(target, safe='')}")
                return error_page(request, 401, "Your session has ended; sign in again.")
            request[_SESSION] = session
            if request.method not in ("GET", "HEAD"):
                refusal = await _refuse_forgery(request, session.csrf)
                if refusal is not None:
                    return refusal
            if not can(session, scope):
                log.info("console_scope_refused", user=session.user.name, scope=scope)
                return error_page(request, 403, "Your role does not allow this page.")
            try:
                return await handler(request)
            except GatewayError as exc:
                row = answer(exc)
                return error_page(request, row.status, row.detail_of(exc))

        guarded.scope = scope  # type: ignore[attr-defined]  # read by the coverage test
        return guarded

    return decorate


async def _refuse_forgery(request: web.Request, expected: str) -> web.Response | None:
    if not same_origin(request):
        log.info("console_origin_refused", path=request.path, origin=request.headers.get("Origin"))
        return error_page(request, 403, "This form was not sent from Herald's own pages.")
    try:
        form = await request.post()
    except web.HTTPRequestEntityTooLarge:
        return error_page(request, 413, "What this form sent is too large for Herald to take.")
    offered = form.get("csrf")
    if not isinstance(offered, str) or not hmac.compare_digest(
        offered.encode("utf-8", errors="surrogateescape"), expected.encode()
    ):
        log.info("console_csrf_refused", path=request.path)
        return error_page(
            request, 403, "This form is out of date or was not made by Herald; reload the page."
        )
    return None


def render(
    request: web.Request, name: str, /, *, status: int = 200, **context: Any
) -> web.Response:
    """The page ``name`` (a template of ``templates/``), with the base
    layout's context: the user, their navigation, the CSRF token, the flash
    messages and ``errors`` (a mapping of field to message, shown at each field)."""
    console = console_of(request)
    session: ConsoleSession | None = request.get(_SESSION)
    base: dict[str, Any] = {
        "session": session,
        "user": session.user if session else None,
        "nav": [link for link in console.nav if can(session, link.scope)],
        "path": request.path,
        "csrf": session.csrf if session else "",
        "flash": session.flash if session else (),
        "errors": {},
        "values": {},
        "can": lambda scope: can(session, scope),
    }
    html = console.env.get_template(name).render({**base, **context})
    return web.Response(
        status=status,
        text=html,
        content_type="text/html",
        charset="utf-8",
        headers={"Cache-Control": "no-store"},
    )


def error_page(request: web.Request, status: int, detail: str) -> web.Response:
    return render(request, "error.html", status=status, status_code=status, detail=detail)


def redirect(location: str) -> web.Response:
    """303 See Other: after a POST, the browser GETs ``location``."""
    return web.Response(status=303, headers={"Location": location, "Cache-Control": "no-store"})


async def flash(request: web.Request, text: str, kind: str = "ok") -> None:
    """A message for the session's next page (``kind``: ok or error)."""
    session = session_of(request)
    await console_of(request).api.store.flash_console_session(session.digest, [(kind, text)])


def field_errors(error: InvalidInput, fields: Mapping[str, str] | None = None) -> dict[str, str]:
    """``error``'s messages by form field: a JSON pointer ``#/host`` names the
    field ``host``, or the field ``fields`` maps it to."""
    found: dict[str, str] = {}
    for pointer, detail in error.errors:
        name = pointer.removeprefix("#/").removeprefix("#")
        name = (fields or {}).get(name, name)
        found.setdefault(name or "_form", detail)
    return found


def form_text(form: Mapping[str, Any], name: str, *, limit: int = 10_000) -> str:
    """The text field ``name`` of a posted form, stripped ('' when absent);
    ``InvalidInput`` when longer than ``limit``."""
    value = form.get(name, "")
    if not isinstance(value, str):
        raise InvalidInput(f"#/{name}", "must be text")
    if len(value) > limit:
        raise InvalidInput(f"#/{name}", f"must be at most {limit} characters")
    return value.strip()


def page_after(request: web.Request, name: str = "after") -> str | None:
    """The keyset cursor a listing page was asked to start after."""
    value = request.query.get(name)
    return value if value and value.isascii() and len(value) <= 200 else None


def next_page(request: web.Request, name: str, cursor: object | None) -> str | None:
    """The URL of the next page of a keyset listing: this one with ``name``
    set to ``cursor``; None when there is no next page."""
    if cursor is None or cursor == "":
        return None
    return str(request.rel_url.update_query({name: str(cursor)}))


@web.middleware
async def secure_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every response carries the console's security headers; a page may
    only tighten them. A browser asking for a page that does not exist gets
    a page saying so rather than the API's problem document."""
    response = await handler(request)
    if (
        response.status == 404
        and response.content_type == problems.MEDIA_TYPE
        and CONSOLE in request.app
        and not request.path.startswith(("/v1/", "/healthz", "/metrics"))
        and "text/html" in request.headers.get("Accept", "")
    ):
        session = await current_session(request)
        if session is not None:
            request[_SESSION] = session
        response = error_page(request, 404, "There is no such page.")
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


_STATIC_TYPES = {".css": "text/css", ".js": "text/javascript", ".svg": "image/svg+xml"}


async def _static(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    suffix = name[name.rfind(".") :] if "." in name else ""
    entry = resources.files("gateway.console") / "static" / name
    if "/" in name or name.startswith(".") or suffix not in _STATIC_TYPES or not entry.is_file():
        raise web.HTTPNotFound(reason=f"no file {name!r}")
    return web.Response(
        body=entry.read_bytes(),
        content_type=_STATIC_TYPES[suffix],
        headers={"Cache-Control": "public, max-age=300"},
    )


__all__: Sequence[str] = [
    "CONSOLE",
    "Console",
    "Link",
    "can",
    "console_of",
    "error_page",
    "field_errors",
    "flash",
    "form_text",
    "next_page",
    "redirect",
    "render",
    "requires",
    "secure_headers",
    "session_of",
]
