"""The console's Email templates and Brand pages over HTTP, as a browser with
scripts off uses them: plain form posts to the real daemon, the test email
parsed at the capture upstream, the store read back through the CLI."""

from __future__ import annotations

import base64
import http.cookiejar
import json
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from email.message import EmailMessage
from html import unescape
from pathlib import Path

import pytest

from tests.integration.console import Person, add_user
from tests.integration.harness import Capture, Herald, Response, multipart

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
CONFIG = """
[sender]
address = "notify@herald.test"
name = "Herald Test"

[brand]
name = "Acme Cloud"
"""
PREVIEW_POLICY = (
    "default-src 'none'; img-src data: cid:; style-src 'unsafe-inline';"
    " base-uri 'none'; form-action 'none'; frame-ancestors 'self'; sandbox"
)


class Browser:
    """A signed-in user agent without scripts: cookies, forms, Origin."""

    def __init__(self, herald: Herald, person: Person) -> None:
        self.herald = herald
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(self.jar), _NoRedirect()
        )
        page = self.get("/sign-in").text
        token = _field(page, "form_token")
        signed = self.post(
            "/sign-in",
            {"form_token": token, "name": person.name, "password": person.password, "next": "/"},
        )
        assert signed.status == 303, signed.text

    def open(self, method: str, path: str, body: bytes | None, headers: dict[str, str]) -> Page:
        request = urllib.request.Request(
            self.herald.base_url + path, data=body, method=method, headers=headers
        )
        try:
            with self.opener.open(request, timeout=30) as answer:
                return Page(answer.status, dict(answer.headers), answer.read())
        except urllib.error.HTTPError as error:
            return Page(error.code, dict(error.headers), error.read())

    def get(self, path: str) -> Page:
        return self.open("GET", path, None, {})

    def post(self, path: str, fields: dict[str, str], *, csrf: bool = True) -> Page:
        if csrf and path != "/sign-in":
            fields = {"csrf": self.csrf(), **fields}
        body = urllib.parse.urlencode(fields).encode()
        headers = {
            "Origin": self.herald.base_url,
            "Content-Type": "application/x-www-form-urlencoded",
        }
        return self.open("POST", path, body, headers)

    def post_multipart(
        self, path: str, fields: list[tuple[str, str]], files: list[tuple[str, bytes]]
    ) -> Page:
        body, content_type = multipart(files, text=[("csrf", self.csrf()), *fields])
        return self.open(
            "POST", path, body, {"Origin": self.herald.base_url, "Content-Type": content_type}
        )

    def csrf(self) -> str:
        return _field(self.get("/templates").text, "csrf")


class Page(Response):
    @property
    def text(self) -> str:
        return self.body.decode("utf-8")

    def testid(self, name: str) -> str:
        """The text inside the element marked data-testid=``name``, tags removed."""
        found = re.search(
            rf'data-testid="{name}"[^>]*>(.*?)</(?:div|strong|pre|ul|table)>', self.text, re.S
        )
        assert found is not None, f"no {name} in the page"
        return unescape(re.sub(r"<[^>]+>", "", found[1])).strip()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


def _field(page: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', page)
    assert found is not None, f"no field {name}"
    return unescape(found[1])


@pytest.fixture(scope="module")
def herald(tmp_path_factory: pytest.TempPathFactory, capture: Capture) -> Iterator[Herald]:
    daemon = Herald(tmp_path_factory.mktemp("console"), upstream=capture.url, config=CONFIG)
    daemon.start()
    yield daemon
    daemon.stop()


@pytest.fixture(scope="module")
def people(herald: Herald) -> dict[str, Person]:
    return {
        name: add_user(herald, name, role)
        for name, role in (("ada", "admin"), ("tess", "templates"), ("sam", "settings"))
    }


@pytest.fixture(scope="module")
def ada(herald: Herald, people: dict[str, Person]) -> Browser:
    return Browser(herald, people["ada"])


def received(capture: Capture, to: str) -> EmailMessage:
    """The newest message the capture upstream got for ``to``, as a mail client parses it."""
    return capture.wait_for(lambda captured: to in captured.rcpt_tos)[-1].message


def test_a_bad_template_is_shown_at_its_line_and_nothing_is_saved(
    herald: Herald, ada: Browser
) -> None:
    """Save with a misspelt tag on line 2 of the HTML: 422, the error at its
    line with the did-you-mean and the line's text, the draft kept."""
    html = "<p>Hello</p>\n<p>{{ data.invoice_numbr }} <b>due</b></p>\n"
    page = ada.post("/templates/invoice.issued", {"subject": "Invoice", "html": html, "text": ""})
    assert page.status == 422
    faults = page.testid("faults")
    assert "html, line 2" in faults
    assert "unknown tag data.invoice_numbr; did you mean data.invoice_number?" in faults
    assert "2 <p>{{ data.invoice_numbr }} <b>due</b></p>" in faults
    assert "&lt;b&gt;due&lt;/b&gt;" in page.text
    assert "{{ data.invoice_numbr }} &lt;b&gt;due" in page.text.split('id="html"')[1]
    history = herald.admin("/v1/templates/invoice.issued/versions").json["versions"]
    assert history == []


def test_save_send_test_and_find_it_rendered_upstream(
    herald: Herald, ada: Browser, capture: Capture
) -> None:
    """Saved from the editor, the version names its editor in the list and
    the audit log; the test email reaches the upstream rendered with the
    catalog's samples, and the page says what the upstream answered."""
    shipped = herald.admin("/v1/templates/account.created").json
    html = shipped["html"].replace("</p>", " Your id is {{ recipient.id }}.</p>", 1)
    saved = ada.post(
        "/templates/account.created",
        {"subject": "Welcome aboard, {{ recipient.name }}", "html": html, "text": "", "note": "id"},
    )
    assert saved.status == 303
    assert saved.headers["Location"] == "/templates/account.created"
    editor = ada.get("/templates/account.created")
    assert "Saved account.created as version 1." in editor.text
    assert "version 1 in force" in editor.text
    again = ada.post(
        "/templates/account.created",
        {"subject": "Welcome aboard, {{ recipient.name }}", "html": html, "text": ""},
    )
    assert again.status == 303
    assert (
        "Nothing changed: account.created stays at version 1."
        in ada.get(again.headers["Location"]).text
    )
    listed = ada.get("/templates").text
    row = listed.split('data-type="account.created"')[1].split("</tr>")[0]
    assert "version 1" in row
    assert "console:ada" in row
    audit = herald.admin("/v1/audit?setting=templates").json
    entries = audit["changes"]
    assert entries[0]["actor"] == "console:ada"

    answer = ada.post("/templates/account.created/send-test", {"to": "qa@acme.test"})
    assert answer.status == 200
    words = answer.testid("send-test-answer")
    assert words.startswith("Sent to qa@acme.test: the upstream accepted the message: 250")
    assert f"via smtp://127.0.0.1:{capture.port}" in words
    message = received(capture, "qa@acme.test")
    sample = herald.admin("/v1/tags/account.created").json
    name = next(t["example"] for t in sample["tags"] if t["name"] == "recipient.name")
    assert message["Subject"] == f"Welcome aboard, {name}"
    body = message.get_body(("html",))
    assert body is not None
    recipient_id = next(t["example"] for t in sample["tags"] if t["name"] == "recipient.id")
    assert f"Your id is {recipient_id}." in body.get_content()


def test_template_source_is_shown_as_text_in_the_editor(herald: Herald, ada: Browser) -> None:
    """Markup that would close the textarea and open a script stays text."""
    hostile = "<p>Hi</p></textarea><script>alert(1)</script>"
    assert ada.post("/templates/system.alert", {"html": hostile}).status == 303
    page = ada.get("/templates/system.alert").text
    assert "<script>alert(1)" not in page
    assert "&lt;/textarea&gt;&lt;script&gt;alert(1)&lt;/script&gt;</textarea>" in page


def test_a_test_send_to_a_bad_address_is_refused_in_words(ada: Browser) -> None:
    """The drawer answers with what is wrong; nothing is sent."""
    answer = ada.post("/templates/account.created/send-test", {"to": "not an address"})
    assert answer.status == 422
    assert answer.testid("send-test-answer").startswith("Not sent: ")


def test_previews_are_documents_that_run_no_script(ada: Browser) -> None:
    """The email's HTML is served under a policy with no script and no
    network, framed only by the console; a draft previews unsaved, and a
    draft that does not render says why, escaped."""
    in_force = ada.get("/templates/invoice.issued/preview")
    assert in_force.status == 200
    assert in_force.headers["Content-Security-Policy"] == PREVIEW_POLICY
    assert in_force.headers["X-Frame-Options"] == "SAMEORIGIN"
    draft = ada.post(
        "/templates/invoice.issued/preview",
        {"html": "<p>Draft {{ data.invoice_number }}</p><script>alert(1)</script>"},
    )
    assert draft.status == 200
    assert draft.headers["Content-Security-Policy"] == PREVIEW_POLICY
    assert "<p>Draft INV-" in draft.text
    broken = ada.post("/templates/invoice.issued/preview", {"html": "<p>{{ data.x <i> }}</p>"})
    assert broken.status == 422
    assert "<i>" not in broken.text
    assert "html, line 1" in broken.text
    editor = ada.get("/templates/invoice.issued")
    assert '<iframe name="preview"' in editor.text
    assert re.search(r'<iframe name="preview"[^>]* sandbox src=', editor.text)
    check = ada.post("/templates/invoice.issued/check", {"subject": "{{ data.amont }}"})
    assert check.status == 200
    assert json.loads(check.text)["faults"] == [
        {
            "part": "subject",
            "line": 1,
            "detail": "subject.txt, line 1: unknown tag data.amont; did you mean data.amount?",
        }
    ]


def test_history_diff_and_rollback(herald: Herald, ada: Browser) -> None:
    """Two saves, then the version page shows the change as escaped text, and
    rolling back from the history brings the first back as a new version."""
    for subject in ("Up: {{ data.resource_name }}", "<Ready> {{ data.resource_name }}"):
        assert ada.post("/templates/resource.provisioned", {"subject": subject}).status == 303
    history = ada.get("/templates/resource.provisioned/history")
    assert history.status == 200
    assert 'data-version="2"' in history.text
    assert "Roll back to version 1" in history.text
    diff = ada.get("/templates/resource.provisioned/versions/2")
    assert diff.status == 200
    assert "-Up: {{ data.resource_name }}" in unescape(diff.text)
    assert "+&lt;Ready&gt; {{ data.resource_name }}" in diff.text
    assert "<Ready>" not in diff.text
    against = ada.get("/templates/resource.provisioned/versions/2?against=0")
    assert "the shipped default" in against.text
    back = ada.post("/templates/resource.provisioned/rollback", {"version": "1"})
    assert back.status == 303
    current = herald.admin("/v1/templates/resource.provisioned").json
    assert (current["version"], current["subject"]) == (3, "Up: {{ data.resource_name }}")
    reset = ada.post("/templates/resource.provisioned/reset", {})
    assert reset.status == 303
    assert herald.admin("/v1/templates/resource.provisioned").json["version"] is None
    assert ada.get("/templates/resource.provisioned/versions/x").status == 422
    assert ada.get("/templates/no.such.type").status == 404


def test_the_tag_drawer_lists_and_searches_the_types_tags(ada: Browser) -> None:
    """Every tag with its description and example; a search (scripts off)
    leaves only the matching ones shown and opens the drawer."""
    page = ada.get("/templates/invoice.issued?q=invoice+number")
    drawer = page.text.split('id="tags"')[1]
    assert drawer.startswith(" open")
    shown = re.findall(r'<li data-tag="([^"]+)"[^>]*?(?<!hidden)>', drawer)
    assert shown == ["data.invoice_number"]
    assert "{{ recipient.name }}" in drawer


def test_forms_without_their_csrf_token_or_origin_are_refused(herald: Herald, ada: Browser) -> None:
    """No save without the session's token, nor from another origin."""
    refused = ada.post("/templates/billing.updated", {"subject": "x"}, csrf=False)
    assert refused.status == 403
    body = urllib.parse.urlencode({"csrf": ada.csrf(), "subject": "x"}).encode()
    foreign = ada.open(
        "POST",
        "/templates/billing.updated",
        body,
        {"Origin": "http://evil.test", "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert foreign.status == 403
    assert herald.admin("/v1/templates/billing.updated").json["version"] is None


def test_roles_keep_to_their_pages(herald: Herald, people: dict[str, Person]) -> None:
    """A templates staff member edits templates but not the brand; a settings
    staff member the brand but not the templates."""
    tess, sam = Browser(herald, people["tess"]), Browser(herald, people["sam"])
    assert tess.get("/templates").status == 200
    assert tess.get("/brand").status == 403
    assert sam.get("/brand").status == 200
    assert sam.get("/templates").status == 403
    assert sam.get("/templates/invoice.issued/preview").status == 403


def test_brand_changes_are_previewed_unsaved_then_saved(herald: Herald, ada: Browser) -> None:
    """An uploaded logo and a colour show in the sample email without being
    saved; Save keeps them (audited); a file that is no image is refused."""
    png = (FIXTURES / "logo.png").read_bytes()
    fields = [("primary_color", "#123456"), ("name", "Acme Cloud"), ("footer", "Acme & Co")]
    preview = ada.post_multipart("/brand/preview", fields, [("logo", png)])
    assert preview.status == 200, preview.text
    assert preview.headers["Content-Security-Policy"] == PREVIEW_POLICY
    found = re.search(r'src="data:image/png;base64,([^"]+)"', preview.text)
    assert found is not None
    assert base64.b64decode(found[1]) == png
    assert "#123456" in preview.text
    assert herald.admin("/v1/brand").json["primary_color"] != "#123456"

    bad = ada.post_multipart("/brand", fields, [("logo", b"<svg onload=alert(1)>")])
    assert bad.status == 422
    assert "PNG, JPEG, GIF or WebP" in bad.text
    assert herald.admin("/v1/brand").json["primary_color"] != "#123456"

    saved = ada.post_multipart("/brand", fields, [("logo", png)])
    assert saved.status == 303, saved.text
    brand = herald.admin("/v1/brand").json
    assert (brand["primary_color"], brand["footer"], brand["logo"]) == (
        "#123456",
        "Acme & Co",
        "cid:logo@herald",
    )
    audit = herald.admin("/v1/audit?setting=brand").json
    entries = audit["changes"]
    assert {e["actor"] for e in entries} == {"console:ada"}
    page = ada.get("/brand")
    assert "The brand is saved" in page.text
    assert 'value="#123456"' in page.text
    assert 'name="remove_logo"' in page.text
    unlogoed = ada.post_multipart("/brand/preview", [("remove_logo", "on")], [])
    assert unlogoed.status == 200
    assert "data:image/png" not in unlogoed.text
    assert "data:image/png" in ada.get("/brand/preview").text
    removed = ada.post_multipart("/brand", [("remove_logo", "on")], [])
    assert removed.status == 303
    assert herald.admin("/v1/brand").json["logo"] == ""


def test_the_history_is_read_a_page_at_a_time(herald: Herald, ada: Browser) -> None:
    """Fifty versions a page, newest first; "Older" goes on from the last one."""
    for number in range(52):
        saved = herald.admin_send(
            "PUT", "/v1/templates/billing.updated", {"subject": f"Billing {number}"}
        )
        assert saved.status == 200, saved.body
    first = ada.get("/templates/billing.updated/history").text
    shown = [int(v) for v in re.findall(r'data-version="(\d+)"', first)]
    assert shown == list(range(52, 2, -1))
    assert 'href="/templates/billing.updated/history?before=3"' in first
    second = ada.get("/templates/billing.updated/history?before=3").text
    assert [int(v) for v in re.findall(r'data-version="(\d+)"', second)] == [2, 1]
    assert 'rel="next"' not in second
    # The page of version 52 offers the default and the versions within fifty of it.
    options = re.findall(
        r'<option value="(\d+)"', ada.get("/templates/billing.updated/versions/52").text
    )
    assert options[0] == "0"
    assert [int(o) for o in options[1:]] == list(range(1, 52))


def test_the_editor_gives_back_each_part_exactly_as_saved(herald: Herald, ada: Browser) -> None:
    """Parts saved elsewhere (a subject on two lines with a trailing newline,
    HTML starting with a blank line) come back from the editor's fields as
    they were, so saving the page untouched changes nothing."""
    parts = {
        "subject": "Plan active:\n{{ data.plan }}\n",
        "html": "\n<p>{{ data.plan }} is active</p>\n",
        "text": "",
    }
    assert herald.admin_send("PUT", "/v1/templates/subscription.activated", parts).ok
    page = ada.get("/templates/subscription.activated").text
    posted = {}
    for part in ("subject", "html", "text"):
        found = re.search(rf'<textarea id="{part}"[^>]*>\n(.*?)</textarea>', page, re.S)
        assert found is not None
        # As a browser submits a textarea: its lines end in CR LF.
        posted[part] = unescape(found[1]).replace("\n", "\r\n")
    assert {k: v.replace("\r\n", "\n") for k, v in posted.items()} == parts
    again = ada.post("/templates/subscription.activated", posted)
    assert "Nothing changed" in ada.get(again.headers["Location"]).text
