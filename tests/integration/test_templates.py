"""Branded, editable templates end to end: the CLI and admin API edit what the
running daemon sends, test sends reach the upstream, and legacy mail gets its tags."""

from __future__ import annotations

import getpass
import json
import smtplib
import uuid
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from tests.integration.harness import Capture, Captured, Herald, wait_until

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
CONFIG = f"""
[queue]
poll_interval = "0.2s"

[sender]
address = "notify@herald.test"

[templates]
brand_layout = ["newsletter"]

[brand]
name = "Acme Cloud"
logo_file = "{FIXTURES / "logo.png"}"
support_email = "help@acme.test"
"""


@pytest.fixture(scope="module")
def branded(tmp_path_factory: pytest.TempPathFactory, capture: Capture) -> Iterator[Herald]:
    daemon = Herald(tmp_path_factory.mktemp("branded"), upstream=capture.url, config=CONFIG)
    yield daemon.start()
    daemon.stop()


def event(kind: str, **data: Any) -> dict[str, Any]:
    body: dict[str, Any] = json.loads((FIXTURES / "events" / f"{kind}.json").read_text())
    body["id"] = f"evt_{uuid.uuid4().hex}"
    body["data"] |= data
    return body


def delivered(herald: Herald, capture: Capture, body: dict[str, Any]) -> EmailMessage:
    answer = herald.post_event(body)
    assert answer.status == 202, answer.body
    [mail] = capture.wait_for_run(answer.json["run_id"])
    return mail.message


def write(directory: Path, name: str, text: str) -> str:
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_cli_edit_applies_to_the_running_daemon_and_rolls_back(
    branded: Herald, capture: Capture, tmp_path: Path
) -> None:
    """`herald templates set` changes the next email without a restart;
    rollback and reset bring earlier versions and the default back."""
    wrong = write(tmp_path, "wrong.txt", "Bill {{ data.invoice_number }}")
    assert branded.cli("templates", "set", "billing.updated", "--subject", wrong).returncode == 1
    first = write(tmp_path, "first.txt", "Billing for {{ brand.name }}")
    result = branded.cli("templates", "set", "billing.updated", "--subject", first)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "saved billing.updated version 1"
    second = write(tmp_path, "second.txt", "Billing changed for {{ recipient.name }}")
    assert branded.cli("templates", "set", "billing.updated", "--subject", second).returncode == 0
    message = delivered(branded, capture, event("billing.updated"))
    assert message["Subject"] == "Billing changed for Ada Lovelace"

    history = branded.cli("templates", "history", "billing.updated").stdout.splitlines()
    assert history[1].startswith("2 ")
    assert history[1].endswith("(in force)")
    assert f" cli:{getpass.getuser()} " in history[1]
    diff = branded.cli("templates", "diff", "billing.updated", "2")
    assert diff.returncode == 0, diff.stderr
    assert diff.stdout.splitlines() == [
        "--- subject (version 1)",
        "+++ subject (version 2)",
        "@@ -1 +1 @@",
        "-Billing for {{ brand.name }}",
        "+Billing changed for {{ recipient.name }}",
    ]
    rolled = branded.cli("templates", "rollback", "billing.updated", "1")
    assert rolled.returncode == 0, rolled.stderr
    assert rolled.stdout.strip() == "billing.updated version 3: rollback to version 1"
    message = delivered(branded, capture, event("billing.updated"))
    assert message["Subject"] == "Billing for Acme Cloud"
    assert branded.cli("templates", "reset", "billing.updated").returncode == 0
    message = delivered(branded, capture, event("billing.updated"))
    assert message["Subject"] == "Your Acme Cloud billing details were updated"


def test_event_lacking_a_required_tag_gets_422_naming_it(branded: Herald) -> None:
    """The webhook refuses an invoice without its number, pointing at #/data/invoice_number."""
    body = event("invoice.issued")
    del body["data"]["invoice_number"]
    answer = branded.post_event(body)
    assert answer.status == 422
    assert answer.json["errors"][0]["pointer"] == "#/data/invoice_number"
    assert "data.invoice_number" in answer.json["detail"]
    run = branded.run(answer.json["run_id"])
    assert run["status"] == "rejected"
    assert "data.invoice_number" in run["error"]


def test_brand_saved_over_the_api_applies_to_the_next_email(
    branded: Herald, capture: Capture
) -> None:
    """PATCH /v1/brand changes what the next email wears; bad colours get 422."""
    bad = branded.admin_send("PATCH", "/v1/brand", {"primary_color": "red;x"})
    assert bad.status == 422
    assert bad.json["errors"][0]["pointer"] == "#/primary_color"
    saved = branded.admin_send("PATCH", "/v1/brand", {"footer": "Acme Cloud Ltd, Springfield"})
    assert saved.status == 200
    try:
        message = delivered(branded, capture, event("account.created"))
        html = message.get_body(("html",))
        assert html is not None
        assert "Acme Cloud Ltd, Springfield" in html.get_content()
        audit = branded.admin("/v1/audit?setting=brand").json
        [change] = [e for e in audit["changes"] if (e["new"] or {}).get("footer")][:1]
        assert change["actor"] == "admin-api"
        assert change["new"]["footer"] == "Acme Cloud Ltd, Springfield"
    finally:
        branded.admin_send("PATCH", "/v1/brand", {"footer": None})


def test_logo_uploaded_over_the_api_travels_inline(branded: Herald, capture: Capture) -> None:
    """PUT /v1/brand/logo with an image's bytes makes it the inline logo; DELETE forgets it."""
    gif = b"GIF89a\x01\x00\x01\x00\x00\x00\x00;"
    headers = {"Authorization": f"Bearer {Herald.TOKEN}", "Content-Type": "image/gif"}
    assert branded.request("PUT", "/v1/brand/logo", gif, headers).status == 200
    refused = branded.request("PUT", "/v1/brand/logo", b"not an image", headers)
    assert refused.status == 422
    assert refused.json["errors"][0]["pointer"] == "#/logo"
    try:
        message = delivered(branded, capture, event("account.created"))
        [image] = [part for part in message.walk() if part.get_content_maintype() == "image"]
        assert image.get_content_type() == "image/gif"
        assert image["Content-ID"] == "<logo@herald>"
    finally:
        assert branded.admin_send("DELETE", "/v1/brand/logo").status == 200


def legacy(herald: Herald, capture: Capture, to: str, headers: str, body: str) -> EmailMessage:
    """Send a raw message over SMTP; the message as the upstream received it."""
    with herald.smtp() as smtp:
        refused = smtp.sendmail(
            "app@example.com",
            [to],
            f"From: app@example.com\r\nTo: Bob Stone <{to}>\r\n{headers}\r\n{body}",
        )
        assert refused == {}
    mail: Captured = wait_until(
        lambda: next((c for c in capture.received if to in c.rcpt_tos), None),
        what=f"mail to {to} upstream",
    )
    return mail.message


def test_legacy_message_with_tags_arrives_substituted(branded: Herald, capture: Capture) -> None:
    """A raw message naming its customer and type has its tags filled in and its
    control headers removed."""
    data = json.dumps({"invoice_number": "INV-77", "amount": "12.00", "currency": "EUR"})
    message = legacy(
        branded,
        capture,
        "legacy-tags@example.com",
        "X-Herald-Type: invoice.issued\r\nX-Herald-Customer: cus_9\r\n"
        f"X-Herald-Data: {data}\r\nSubject: Invoice {{{{ data.invoice_number }}}}\r\n",
        "Hello {{ recipient.name }} ({{ recipient.id }}), you owe {{ data.amount }}"
        " {{ data.currency }} to {{ brand.name }}.\r\n",
    )
    assert message["Subject"] == "Invoice INV-77"
    assert message.get_content().strip() == (
        "Hello Bob Stone (cus_9), you owe 12.00 EUR to Acme Cloud."
    )
    assert not any(name.lower().startswith("x-herald") for name in message)


def test_legacy_message_with_an_unknown_tag_is_refused(branded: Herald) -> None:
    """An unknown tag in legacy mail gets 550 with a did-you-mean; nothing is queued."""
    with branded.smtp() as smtp, pytest.raises(smtplib.SMTPDataError) as caught:
        smtp.sendmail(
            "app@example.com",
            ["bob@example.com"],
            "From: app@example.com\r\nTo: bob@example.com\r\nX-Herald-Type: invoice.issued\r\n"
            'X-Herald-Customer: cus_9\r\nX-Herald-Data: {"invoice_number": "1", "amount": "1",'
            ' "currency": "EUR"}\r\nSubject: {{ data.invoice_numbr }}\r\n\r\nHi\r\n',
        )
    error = caught.value
    assert getattr(error, "smtp_code", None) == 550
    assert b"did you mean data.invoice_number?" in getattr(error, "smtp_error", b"")


def test_legacy_type_with_the_brand_layout_is_wrapped(branded: Herald, capture: Capture) -> None:
    """Mail whose type is in [templates] brand_layout arrives in the brand layout,
    logo inline, the app's text kept."""
    message = legacy(
        branded,
        capture,
        "legacy-layout@example.com",
        "X-Herald-Type: newsletter\r\nSubject: News\r\n",
        "Our <new> plans are out.\r\n",
    )
    assert message["Subject"] == "News"
    html = message.get_body(("html",))
    text = message.get_body(("plain",))
    assert html is not None
    assert text is not None
    assert "Our &lt;new&gt; plans are out." in html.get_content()
    assert 'src="cid:logo@herald"' in html.get_content()
    assert "Our <new> plans are out." in text.get_content()
    assert "Acme Cloud" in text.get_content()
