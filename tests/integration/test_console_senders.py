"""The senders page in a real Chromium against the real daemon: every from
key with its address, display name and own upstream; adding, changing and
removing one, a refused field and a refused removal shown at the form; each
result checked outside the browser through the admin API and the CLI.
The screenshot goes to docs/screenshots/senders.png."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.console import Person, add_user, browser, refused_by_policy, shot, sign_in
from tests.integration.harness import Herald

# After tests.integration.console, which skips this module where Chromium is missing.
from playwright.sync_api import Browser, Page, expect  # isort: skip

__all__ = ["browser"]  # the fixture, imported for pytest


@pytest.fixture(scope="module")
def ada(herald: Herald) -> Person:
    return add_user(herald, "ada", "admin")


@pytest.fixture(params=["js", "plain"])
def scripts(request: pytest.FixtureRequest) -> str:
    """The same workflow with scripts on and off: the page is plain forms."""
    kind: str = request.param
    return kind


@pytest.fixture
def page(scripts: str, browser: Browser, herald: Herald, ada: Person) -> Iterator[Page]:
    tab = sign_in(browser, herald, ada, scripts=scripts == "js")
    yield tab
    assert refused_by_policy(tab) == []
    tab.context.close()


def senders(herald: Herald) -> dict[str, dict[str, object]]:
    return {s["key"]: s for s in herald.admin("/v1/senders").json["senders"]}


def test_add_change_and_remove_a_sender(
    page: Page, scripts: str, herald: Herald, ada: Person
) -> None:
    """A sender added on the page is what the API lists; a bad address is named
    at its field and nothing is saved; a change of name is saved; the sender is
    removed once no definition sends from it, and the refusal names the definition."""
    key = f"ops-{scripts}"
    p = page
    p.click("nav >> text=Senders")
    expect(p.locator("h1")).to_have_text("Senders")
    p.fill("#key", key)
    p.fill("#address", "not an address")
    p.fill("#name", "Operations")
    p.click("#sender-form button[type=submit]")
    expect(p.locator("#address-error")).to_contain_text("not a valid email address")
    expect(p.locator("#key")).to_have_value(key)
    assert key not in senders(herald)
    p.fill("#address", f"{key}@acme.test")
    p.click("#sender-form button[type=submit]")
    expect(p.locator(".flash.ok")).to_contain_text(f"sender {key} is Operations")
    assert senders(herald)[key] == {
        "key": key, "address": f"{key}@acme.test", "name": "Operations", "upstream": None,
    }  # fmt: skip

    p.click(f"[data-sender={key}] >> text=Change or remove")
    p.fill("#name", "Operations Team")
    p.click("#sender-form button[type=submit]")
    expect(p.locator(".flash.ok")).to_contain_text("Operations Team")
    assert senders(herald)[key]["name"] == "Operations Team"

    definition = {
        "from_key": key,
        "recipient_key": "invoice",
        "clusters": ["eu"],
        "subject": "Invoice",
        "text": "Dear {{ customer.name }}",
    }
    assert herald.admin_send("PUT", f"/v1/definitions/uses-{key}", definition).status == 200
    own = herald.cli("smtp", "set", "--sender", key, "--host", "mail.acme.test")
    assert own.returncode == 0, own.stderr
    p.reload()
    row = p.locator(f"[data-sender={key}]")
    expect(row).to_contain_text("smtp://mail.acme.test:25")
    if scripts == "js":
        shot(p, "senders")
    row.locator("text=Change or remove").click()
    p.click("#sender-remove button[type=submit]")
    expect(p.locator("#remove-error")).to_contain_text(f"uses-{key}")
    assert key in senders(herald)

    definition["from_key"] = "billing"
    herald.cli("senders", "set", "billing", "--address", "billing@acme.test")
    assert herald.admin_send("PUT", f"/v1/definitions/uses-{key}", definition).status == 200
    p.click("#sender-remove button[type=submit]")
    expect(p.locator(".flash.ok")).to_have_text(f"Sender {key} is removed.")
    expect(p.locator(f"[data-sender={key}]")).to_have_count(0)
    assert key not in senders(herald)
    assert f" {key} " not in herald.cli("senders", "list").stdout
    [entry, *_] = herald.admin(f"/v1/audit?setting=senders/{key}").json["changes"]
    assert (entry["actor"], entry["new"]) == (f"console:{ada.name}", None)
