"""The console in a real browser: Debian's Chromium driven by Playwright,
against the real daemon (``Herald``), with users made as an operator makes
them (``herald users add ... --password-file``)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.integration.harness import Herald

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"

if not CHROMIUM.exists() and not os.environ.get("CI"):
    pytest.skip(
        "Debian's chromium is not installed at /usr/bin/chromium (./scripts/setup installs it"
        " when run as root)",
        allow_module_level=True,
    )

from playwright.sync_api import Browser, Page, sync_playwright  # noqa: E402


@dataclass(frozen=True)
class Person:
    name: str
    email: str
    role: str
    password: str


def add_user(herald: Herald, name: str, role: str, email: str | None = None) -> Person:
    """A console user made with the CLI, as the README says the first admin is made."""
    person = Person(name, email or f"{name}@herald.test", role, f"{name}-long-password-1")
    password_file = herald.workdir / f"{name}.password"
    password_file.write_text(person.password + "\n", encoding="utf-8")
    made = herald.cli(
        "users", "add", name, "--email", person.email, "--role", role,
        "--password-file", str(password_file),
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    return person


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield launched
        finally:
            launched.close()


def sign_in(
    browser: Browser,
    herald: Herald,
    person: Person,
    *,
    scripts: bool = True,
    code: Callable[[], str] | None = None,
) -> Page:
    """A new browser (its own cookies) signed in as ``person``, on the overview.

    Every message the page logs is kept in ``page.console_lines``: a refused
    Content-Security-Policy shows there."""
    context = browser.new_context(
        base_url=herald.base_url,
        viewport={"width": 1280, "height": 900},
        java_script_enabled=scripts,
    )
    page = context.new_page()
    lines: list[str] = []
    page.on("console", lambda message: lines.append(message.text))
    page.console_lines = lines  # type: ignore[attr-defined]  # kept beside the page for the test
    page.goto("/")
    assert page.url.startswith(f"{herald.base_url}/sign-in"), page.url
    page.fill("#name", person.name)
    page.fill("#password", person.password)
    if code is not None:
        page.fill("#code", code())
    page.click("button[type=submit]")
    page.wait_for_url(f"{herald.base_url}/")
    return page


@contextlib.contextmanager
def signed_in(browser: Browser, herald: Herald, person: Person) -> Iterator[Page]:
    """A page signed in as ``person`` (``sign_in``), closed after; every page it
    showed ran under the console's policy without the browser refusing anything."""
    page = sign_in(browser, herald, person)
    try:
        yield page
        assert refused_by_policy(page) == []
    finally:
        page.context.close()


def shot(page: Page, name: str) -> None:
    """A screenshot of the page for the README, docs/screenshots/NAME.png; the
    page must hold no inline script or style, which the policy would refuse."""
    inline = page.locator("script:not([src]), [style], style").count()
    assert inline == 0, f"{page.url} holds inline script or style"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def refused_by_policy(page: Page) -> list[str]:
    """What the browser logged as refused by the Content-Security-Policy."""
    lines: list[str] = page.console_lines  # type: ignore[attr-defined]  # set by sign_in
    return [line for line in lines if "Content Security Policy" in line]


def csrf_of(page: Page) -> str:
    """The session's CSRF token, as every form of the page carries it."""
    token = page.locator("input[name=csrf]").first.get_attribute("value")
    assert token
    return token
