"""The console, end to end: a real Chromium drives the real daemon, and each
result is checked outside the browser (at the capture upstream, parsed, or
through the admin API)."""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.integration.console import (
    Person,
    add_user,
    browser,
    csrf_of,
    refused_by_policy,
    shot,
    sign_in,
)
from tests.integration.harness import LOOPBACK, STRANGER, Capture, Herald

if TYPE_CHECKING:
    from playwright.sync_api import Browser

__all__ = ["browser"]  # the fixture, imported for pytest

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def event(kind: str) -> dict[str, Any]:
    body: dict[str, Any] = json.loads((FIXTURES / "events" / f"{kind}.json").read_text())
    body["id"] = f"evt_{uuid.uuid4().hex}"
    return body


@pytest.fixture(scope="module")
def admin(herald: Herald) -> Person:
    return add_user(herald, "boss", "admin")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def test_a_browser_not_signed_in_is_sent_to_sign_in(herald: Herald) -> None:
    """Any console page answers a request without a session with a redirect to
    the sign-in page that comes back to it, under the strict CSP."""
    opener = urllib.request.build_opener(_NoRedirect)
    request = urllib.request.Request(f"{herald.base_url}/delivery?x=1")
    with pytest.raises(urllib.error.HTTPError) as refused:
        opener.open(request, timeout=10)
    refused.value.close()
    assert refused.value.code == 303
    assert refused.value.headers["Location"] == "/sign-in?next=%2Fdelivery%3Fx%3D1"
    csp = refused.value.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp
    assert "default-src 'none'" in csp


def test_sign_in_refuses_a_wrong_password_and_takes_the_right_one(
    herald: Herald, admin: Person, browser: Browser
) -> None:
    """A wrong password is refused with one message for every cause; the right one signs in."""
    page = browser.new_page(base_url=herald.base_url)
    page.goto("/sign-in")
    shot(page, "sign-in")
    page.fill("#name", admin.name)
    page.fill("#password", "not the password")
    page.click("button[type=submit]")
    assert page.locator(".flash.error").inner_text() == "The name, password or code is wrong."
    page.fill("#password", admin.password)
    page.click("button[type=submit]")
    page.wait_for_url(f"{herald.base_url}/")
    cookie = next(c for c in page.context.cookies() if c["name"] == "herald_session")
    assert cookie["httpOnly"]
    assert cookie["sameSite"] == "Strict"
    page.context.close()


def test_the_smtp_page_saves_and_its_test_reports_the_upstreams_answer(
    herald: Herald, capture: Capture, admin: Person, browser: Browser
) -> None:
    """Fill in the SMTP page, Done, then Send Test Email from its drawer: the
    drawer shows the capture upstream's reply, and the message is there."""
    page = sign_in(browser, herald, admin)
    page.click("nav >> text=SMTP")
    page.fill("#host", "127.0.0.1")
    page.fill("#port", str(capture.port))
    page.select_option("#security", "none")
    page.click("button:has-text('Done')")
    assert (
        "Saved: mail now goes through smtp://127.0.0.1:" in page.locator(".flash.ok").inner_text()
    )
    saved = herald.admin("/v1/smtp").json
    assert (saved["source"], saved["host"], saved["port"]) == ("saved", "127.0.0.1", capture.port)
    assert page.locator("button:has-text('Forget the saved settings')").count() == 1

    page.click("summary:has-text('Send Test Email')")
    subject = f"Console test {uuid.uuid4().hex[:8]}"
    page.fill("#test-to", "someone@herald.test")
    page.fill("#test-subject", subject)
    page.click("#smtp-test button:has-text('Send')")
    outcome = page.locator("[data-testid=diagnosis-outcome]")
    outcome.wait_for()
    assert outcome.inner_text() == "accepted"
    assert page.locator("[data-testid=diagnosis-reply]").inner_text().startswith("250")
    [mail] = capture.wait_for(lambda c: c.message["Subject"] == subject)
    assert mail.rcpt_tos == ["someone@herald.test"]
    assert mail.message["To"] == "someone@herald.test"
    shot(page, "smtp")
    page.context.close()


def test_bcc_to_me_without_customers_reaches_only_the_admin(
    herald: Herald, capture: Capture, admin: Person, browser: Browser
) -> None:
    """Untick "Send to all customers" and tick "BCC to me" for a type, Save:
    an event of that type then reaches the signed-in admin and no one else."""
    page = sign_in(browser, herald, admin)
    page.click("nav >> text=Delivery")
    page.uncheck("[id='customers:account.created']")
    page.check("[id='bcc_admin:account.created']")
    page.fill("[id='bcc:account.created']", "")
    page.click("button:has-text('Save')")
    assert page.locator(".flash.ok").inner_text() == "Saved: account.created."
    shot(page, "delivery")

    answer = herald.post_event(event("account.created"))
    assert answer.status == 202, answer.body
    [mail] = capture.wait_for_run(answer.json["run_id"])
    assert mail.rcpt_tos == [admin.email]
    assert mail.message["To"] == admin.email

    page.click("tr[data-type='account.created'] >> text=Who would receive this")
    rows = page.locator("[data-testid=recipients] tbody tr")
    receiving = [
        rows.nth(i).locator("td").first.inner_text()
        for i in range(rows.count())
        if "yes" in rows.nth(i).inner_text()
    ]
    assert receiving == [admin.email]
    shot(page, "delivery-recipients")
    page.context.close()


def test_a_bcc_address_is_checked_as_it_is_typed_and_refused_on_save(
    herald: Herald, admin: Person, browser: Browser
) -> None:
    """A bad "BCC to" address is named at its field while typing and again on
    Save, which then saves nothing."""
    page = sign_in(browser, herald, admin)
    page.goto("/delivery")
    field = page.locator("[id='bcc:invoice.issued']")
    field.fill("finance@herald.test, not-an-address")
    live = page.locator("tr[data-type='invoice.issued'] .field-error.live")
    live.wait_for()
    assert "not-an-address" in live.inner_text()
    before = herald.admin("/v1/delivery").json
    page.click("button:has-text('Save')")
    assert (
        "not-an-address"
        in page.locator("tr[data-type='invoice.issued'] .field-error").first.inner_text()
    )
    assert herald.admin("/v1/delivery").json == before
    page.context.close()


def test_staff_without_the_settings_privilege_cannot_see_or_post_the_smtp_page(
    herald: Herald, browser: Browser
) -> None:
    """A templates-only user has no SMTP link, gets 403 for the page, and a
    post of the SMTP form (with their valid CSRF token) changes nothing."""
    staff = add_user(herald, "tom", "templates")
    page = sign_in(browser, herald, staff)
    assert page.locator("nav >> text=SMTP").count() == 0
    response = page.goto("/smtp")
    assert response is not None
    assert response.status == 403
    assert "Your role does not allow this page." in page.inner_text("main")
    before = herald.admin("/v1/smtp").json
    posted = page.request.post(
        f"{herald.base_url}/smtp",
        form={"csrf": csrf_of(page), "host": "evil.example", "port": "25", "security": "none"},
        headers={"Origin": herald.base_url},
    )
    assert posted.status == 403
    assert herald.admin("/v1/smtp").json == before
    page.context.close()


def test_a_form_posted_without_its_csrf_token_or_from_elsewhere_is_refused(
    herald: Herald, admin: Person, browser: Browser
) -> None:
    """The delivery form posted without its token, with a wrong one, or with a
    foreign Origin is refused with 403 and changes nothing."""
    page = sign_in(browser, herald, admin)
    before = herald.admin("/v1/delivery").json
    form = {"customers:system.alert": "on", "bcc_admin:system.alert": "on"}
    for extra, origin in (
        ({}, herald.base_url),
        ({"csrf": "forged"}, herald.base_url),
        ({"csrf": csrf_of(page)}, "http://attacker.example"),
    ):
        posted = page.request.post(
            f"{herald.base_url}/delivery", form={**form, **extra}, headers={"Origin": origin}
        )
        assert posted.status == 403, (extra, origin)
    assert herald.admin("/v1/delivery").json == before
    page.context.close()


def test_a_customer_name_holding_script_renders_as_text(
    herald: Herald, admin: Person, browser: Browser
) -> None:
    """A customer whose name is markup shows that markup as text, and none of it runs."""
    name = '<script>window.pwned = 1</script><img src=x onerror="window.pwned = 2">Eve'
    line = json.dumps({"id": "cus_hostile", "name": name}).encode() + b"\n"
    imported = herald.admin_send("POST", "/v1/customers", line, content_type="application/x-ndjson")
    assert imported.status == 200, imported.body
    page = sign_in(browser, herald, admin)
    page.click("nav >> text=Customers")
    cell = page.locator("[data-testid=customer-name]").filter(has_text="Eve")
    assert cell.inner_text() == name
    assert cell.locator("script, img").count() == 0
    assert page.evaluate("window.pwned") is None
    shot(page, "customers")
    page.goto("/customers/cus_hostile")
    assert page.locator("h1").inner_text() == name
    assert page.evaluate("window.pwned") is None
    page.context.close()


def test_every_page_renders_for_the_admin_and_changes_are_audited_by_name(
    herald: Herald, admin: Person, browser: Browser
) -> None:
    """The overview, runs, a run, users and tokens, the account and the audit
    log render; a token made in the console is shown once and works; the audit
    log names the console user."""
    answer = herald.post_event(event("invoice.issued"))
    assert answer.status == 202, answer.body
    run_id = answer.json["run_id"]
    herald.wait_for_status(run_id, "sent")
    page = sign_in(browser, herald, admin)
    assert page.locator("[data-testid=breaker]").inner_text().startswith("Breaker closed")
    assert "invoice.issued" in page.locator("[data-testid=flow]").inner_text()
    shot(page, "overview")
    page.click("nav >> text=Runs")
    page.click(f"text={run_id}")
    assert page.locator("h1").inner_text() == f"Run {run_id}"
    missing = page.goto("/runs/run_missing")
    assert missing is not None
    assert missing.status == 404
    assert "no run 'run_missing'" in page.inner_text("main")
    missing = page.goto("/no-such-page")
    assert missing is not None
    assert missing.status == 404
    assert "There is no such page." in page.inner_text("main")

    page.click("nav >> text=Users & tokens")
    page.fill("#token_name", "ci")
    page.check("[id='scope-runs:read']")
    page.click("button:has-text('Make token')")
    secret = page.locator("[data-testid=token-secret]").inner_text()
    assert herald.admin("/v1/runs?limit=1", token=secret).status == 200
    assert herald.admin("/v1/smtp", token=secret).status == 403
    shot(page, "users")
    page.goto("/users")
    assert page.locator("[data-testid=token-secret]").count() == 0

    page.click("nav >> text=My account")
    shot(page, "account")
    page.click("nav >> text=Audit log")
    audit = page.locator("[data-testid=audit]").inner_text()
    assert "console:boss" in audit
    assert "tokens/ci" in audit
    shot(page, "audit")
    assert refused_by_policy(page) == []
    page.context.close()


def test_the_smtp_test_works_with_scripts_off(
    herald: Herald, capture: Capture, admin: Person, browser: Browser
) -> None:
    """Without scripts the drawer still opens, and the test's answer comes back as a page."""
    page = sign_in(browser, herald, admin, scripts=False)
    page.goto("/smtp")
    page.click("summary:has-text('Send Test Email')")
    subject = f"No script {uuid.uuid4().hex[:8]}"
    page.fill("#test-to", "plain@herald.test")
    page.fill("#test-subject", subject)
    page.click("#smtp-test button:has-text('Send')")
    page.wait_for_url(f"{herald.base_url}/smtp/test")
    assert page.locator("[data-testid=diagnosis-outcome]").inner_text() == "accepted"
    [mail] = capture.wait_for(lambda c: c.message["Subject"] == subject)
    assert mail.rcpt_tos == ["plain@herald.test"]
    page.context.close()


def test_a_second_factor_is_asked_for_once_set_up(herald: Herald, browser: Browser) -> None:
    """A user who turns on TOTP on My account then signs in only with the current code."""
    import pyotp

    person = add_user(herald, "kim", "read-only")
    page = sign_in(browser, herald, person)
    page.goto("/account")
    page.click("button:has-text('Set up a second factor')")
    secret = page.locator("[data-testid=totp-secret]").inner_text()
    page.fill("#code", pyotp.TOTP(secret).now())
    page.fill("#current", person.password)
    page.click("button:has-text('Turn on')")
    assert page.locator(".flash.ok").inner_text().startswith("The second factor is on")
    page.context.close()

    refused = browser.new_page(base_url=herald.base_url)
    refused.goto("/sign-in")
    refused.fill("#name", person.name)
    refused.fill("#password", person.password)
    refused.click("button[type=submit]")
    assert refused.locator(".flash.error").inner_text() == "The name, password or code is wrong."
    refused.context.close()
    taken = pyotp.TOTP(secret).now()
    page = sign_in(browser, herald, person, code=lambda: taken)
    assert page.locator(".who").inner_text().startswith("kim")
    page.context.close()
    # RFC 6238 §5.2: the code that signed in once signs in no more.
    replay = browser.new_page(base_url=herald.base_url)
    replay.goto("/sign-in")
    replay.fill("#name", person.name)
    replay.fill("#password", person.password)
    replay.fill("#code", taken)
    replay.click("button[type=submit]")
    assert replay.locator(".flash.error").inner_text() == "The name, password or code is wrong."
    replay.context.close()


def _sign_in_over_http(herald: Herald, name: str, password: str, source: str) -> int:
    """The status a sign-in from ``source`` gets, posted as the form would post it."""
    import http.cookies

    form_page = herald.request("GET", "/sign-in", source=source)
    cookie = http.cookies.SimpleCookie(form_page.headers["Set-Cookie"])["herald_signin"].value
    token = form_page.body.decode().split('name="form_token" value="')[1].split('"')[0]
    body = urllib.parse.urlencode(
        {"form_token": token, "name": name, "password": password, "next": "/"}
    ).encode()
    answer = herald.request(
        "POST",
        "/sign-in",
        body,
        {
            "Content-Type": "application/x-www-form-urlencoded",
            "Cookie": f"herald_signin={cookie}",
            "Origin": herald.base_url,
        },
        source=source,
    )
    return answer.status


def test_failed_sign_ins_slow_the_guesser_but_lock_no_one_out(herald: Herald) -> None:
    """After wrong passwords for one account from one address, another user
    from that address signs in, and the account's own user, from elsewhere,
    still signs in with the right password (in turn)."""
    target = add_user(herald, "ivy", "read-only")
    other = add_user(herald, "joe", "read-only")
    for _ in range(10):
        assert _sign_in_over_http(herald, target.name, "wrong password!", STRANGER) == 401
    assert _sign_in_over_http(herald, other.name, other.password, STRANGER) == 303
    assert _sign_in_over_http(herald, target.name, target.password, LOOPBACK) == 303
