"""The life of a message after it is sent, end to end with the real daemon and
a real upstream: retention and the store's size, suppressions, bounces that
come back, DKIM."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dkim
import pytest

from gateway.store import open_store
from gateway.store._sql import SQLStore
from tests.integration.harness import STRANGER, CallbackServer, Capture, Herald, wait_until
from tests.integration.test_faults import smtp_message

# A body clock of a second, so that a sent message's body may go at once; the
# daemon's own pass waits an hour, so the tests prune when they mean to.
CONFIG = """
[retention]
bodies = "1s"
interval = "1h"

[smtp]
# Only this address may relay: STRANGER (127.0.0.2) is a remote MTA.
allow = ["127.0.0.1/32"]

[bounces]
enabled = true
domain = "bounces.herald.test"

[notify]
callback_url = "{callback}"
"""


@pytest.fixture(scope="module")
def hooks() -> Iterator[CallbackServer]:
    server = CallbackServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def herald(
    tmp_path_factory: pytest.TempPathFactory, capture: Capture, hooks: CallbackServer
) -> Iterator[Herald]:
    workdir: Path = tmp_path_factory.mktemp("herald")
    config = CONFIG.format(callback=hooks.url)
    daemon = Herald(workdir, upstream=capture.url, config=config).start()
    yield daemon
    daemon.stop()


def test_prune_removes_a_sent_body_and_a_resend_says_why(herald: Herald) -> None:
    """``herald store prune --dry-run`` names the body that would go and removes
    nothing; ``prune`` removes it, the run keeps its record, and a resend over
    the CLI or the API says that retention removed the message."""
    run_id = smtp_message(herald, "kept for a second")
    run = herald.wait_for_status(run_id, "sent")
    item = run["items"][0]["id"]

    def would_go() -> str | None:
        dry = herald.cli("store", "prune", "--dry-run")
        assert dry.returncode == 0, dry.stderr
        return dry.stdout if not dry.stdout.startswith("would remove: 0 ") else None

    assert "message bodies" in wait_until(would_go, 30, "the body clock to run out")
    assert json.loads(herald.cli("store", "stats", "--json").stdout)["pruned"] == 0

    pruned = herald.cli("store", "prune")
    assert pruned.returncode == 0, pruned.stderr
    assert pruned.stdout.startswith("removed: ")
    stats = json.loads(herald.cli("store", "stats", "--json").stdout)
    assert stats["pruned"] >= 1

    assert herald.run(run_id)["status"] == "sent"
    resend = herald.cli("runs", "resend", run_id, str(item))
    assert resend.returncode == 1
    assert "retention removed its message" in resend.stderr
    assert "Traceback" not in resend.stderr
    answer = herald.admin(f"/v1/runs/{run_id}/items/{item}/resend", method="POST")
    assert answer.status == 410, answer.body
    assert answer.json["type"] == "urn:herald:problem:pruned"


def test_metrics_show_the_store_size_and_its_oldest_body(herald: Herald) -> None:
    """/metrics carries the store's size and the age of its oldest kept body."""
    smtp_message(herald, "measured")
    text = herald.admin("/metrics").body.decode()
    samples = dict(
        line.split(" ", 1) for line in text.splitlines() if line and not line.startswith("#")
    )
    assert float(samples["herald_store_size_bytes"]) > 0
    assert float(samples["herald_store_oldest_body_age_seconds"]) >= 0


def test_a_missing_mailbox_is_suppressed_and_the_next_message_is_skipped(
    herald: Herald, capture: Capture
) -> None:
    """The upstream refuses a recipient with 550 5.1.1: it is suppressed with
    the reply, and the next message to it is recorded skipped and never
    reaches the upstream; listing, search, export, removal and additions
    over the CLI and the API are each audited."""
    capture.rcpt_replies = {"gone@": "550 5.1.1 <gone@example.com>: User unknown"}
    try:
        first = smtp_message(herald, "to a mailbox that is gone", to="gone@example.com")
        herald.wait_for_status(first, "failed")
        second = smtp_message(herald, "to it again", to="gone@example.com")
        run = herald.wait_for_status(second, "dropped")
    finally:
        capture.rcpt_replies = {}
    [item] = run["items"]
    assert item["status"] == "skipped"
    assert item["error"].startswith("suppressed since ")
    assert "550 5.1.1" in item["error"]
    assert not [c for c in capture.received if "gone@example.com" in c.rcpt_tos]

    listing = herald.cli("suppressions", "list", "--search", "GONE", "--json")
    assert listing.returncode == 0, listing.stderr
    [entry] = [json.loads(line) for line in listing.stdout.splitlines()]
    assert (entry["address"], entry["source"], entry["run_id"]) == (
        "gone@example.com",
        "upstream",
        first,
    )
    answer = herald.admin("/v1/suppressions?search=gone")
    assert answer.status == 200
    assert [s["address"] for s in answer.json["suppressions"]] == ["gone@example.com"]

    added = herald.cli("suppressions", "add", "Left@Example.com", "--reason", "asked to leave")
    assert added.returncode == 0, added.stderr
    answer = herald.admin(
        "/v1/suppressions", method="POST", body={"address": "api@example.com", "reason": "test"}
    )
    assert answer.status == 201, answer.body
    assert answer.json["source"] == "operator"
    bad = herald.admin("/v1/suppressions", method="POST", body={"address": "not an address"})
    assert bad.status == 422
    assert bad.json["errors"][0]["pointer"] == "#/address"

    export = herald.cli("suppressions", "export")
    assert export.returncode == 0, export.stderr
    rows = list(csv.DictReader(io.StringIO(export.stdout)))
    assert [row["address"] for row in rows] == [
        "api@example.com",
        "gone@example.com",
        "left@example.com",
    ]
    assert rows[2]["reason"] == "asked to leave"
    exported = herald.admin("/v1/suppressions/export")
    assert exported.status == 200
    assert exported.headers["Content-Type"].startswith("text/csv")
    assert exported.body.startswith(b"address,reason,source,run_id,created_at\r\n")
    assert list(csv.DictReader(io.StringIO(exported.body.decode(), newline=""))) == rows

    removed = herald.cli("suppressions", "remove", "gone@example.com")
    assert removed.returncode == 0, removed.stderr
    assert herald.admin("/v1/suppressions/api@example.com", method="DELETE").status == 204
    missing = herald.cli("suppressions", "remove", "gone@example.com")
    assert missing.returncode == 1
    assert missing.stderr.strip() == "herald: gone@example.com is not suppressed"

    audit = herald.cli("audit", "--setting", "suppressions", "--json", "--limit", "50")
    changes = [json.loads(line) for line in audit.stdout.splitlines()]
    assert [(c["setting"], c["new"] is None) for c in reversed(changes)] == [
        ("suppressions/gone@example.com", False),
        ("suppressions/left@example.com", False),
        ("suppressions/api@example.com", False),
        ("suppressions/gone@example.com", True),
        ("suppressions/api@example.com", True),
    ]
    third = smtp_message(herald, "welcome back", to="gone@example.com")
    herald.wait_for_status(third, "sent")


def dsn(
    return_path: str, recipient: str, *, action: str = "failed", status: str = "5.1.1"
) -> bytes:
    """A delivery status notification (RFC 3464) as a receiving MTA writes one."""
    return (
        "From: Mail Delivery System <MAILER-DAEMON@mx.example.com>\r\n"
        f"To: {return_path}\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        "Auto-Submitted: auto-replied\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="DSN"\r\n'
        "\r\n--DSN\r\nContent-Type: text/plain\r\n\r\n"
        "This is the mail system at host mx.example.com. Your message could not be delivered.\r\n"
        "\r\n--DSN\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.example.com\r\n"
        "Arrival-Date: Tue, 1 Dec 2026 10:00:00 +0000\r\n"
        "\r\n"
        f"Final-Recipient: rfc822; {recipient}\r\n"
        f"Original-Recipient: rfc822;{recipient}\r\n"
        f"Action: {action}\r\n"
        f"Status: {status}\r\n"
        f"Diagnostic-Code: smtp; 550 {status} <{recipient}>: Recipient address rejected:\r\n"
        " User unknown in virtual mailbox table\r\n"
        "\r\n--DSN\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        "Subject: whatever was sent\r\n"
        "\r\n--DSN--\r\n"
    ).encode()


def send_report(herald: Herald, rcpt: str, body: bytes) -> tuple[int, bytes]:
    """Deliver ``body`` to ``rcpt`` on Herald's listener as a remote MTA does:
    from outside the allowed networks, with the null reverse-path."""
    with herald.smtp(source=STRANGER) as client:
        client.ehlo()
        code, reply = client.mail("")
        assert code == 250, reply
        code, reply = client.rcpt(rcpt)
        if code != 250:
            return code, reply
        return client.data(body)


def test_a_dsn_for_a_sent_item_marks_it_bounced_and_reports_it(
    herald: Herald, capture: Capture, hooks: CallbackServer
) -> None:
    """A message leaves with its own return path; a DSN for it delivered to the
    listener from a stranger marks the recipient bounced with the diagnostic,
    suppresses the address and fires the failure callback."""
    run_id = smtp_message(herald, "delivered, then bounced", to="bounced@example.com")
    herald.wait_for_status(run_id, "sent")
    [mail] = capture.wait_for(lambda c: c.rcpt_tos == ["bounced@example.com"])
    return_path = mail.mail_from
    assert return_path.startswith("bounces+msg_")
    assert return_path.endswith("@bounces.herald.test")

    code, reply = send_report(herald, return_path, dsn(return_path, "bounced@example.com"))
    assert code == 250, reply
    run = herald.run(run_id)
    assert run["status"] == "failed"
    [item] = run["items"]
    assert item["status"] == "bounced"
    assert "550 5.1.1 <bounced@example.com>: Recipient address rejected" in item["error"]
    assert "bounced" in [entry["event"] for entry in run["history"]]
    [entry] = herald.admin("/v1/suppressions?search=bounced@").json["suppressions"]
    assert (entry["source"], entry["run_id"]) == ("bounce", run_id)

    def reported() -> dict[str, object] | None:
        for callback in hooks.received:
            body = json.loads(callback.body)
            if body["type"] == "message.bounced" and body["run_id"] == run_id:
                return dict(body)
        return None

    report = wait_until(reported, 30, "the failure callback")
    assert report["recipients"][0]["address"] == "bounced@example.com"

    # The same report again changes nothing more.
    code, _ = send_report(herald, return_path, dsn(return_path, "bounced@example.com"))
    assert code == 250
    assert herald.run(run_id)["counts"] == {"bounced": 1}


def test_what_is_not_a_dsn_or_names_no_message_is_refused_or_dropped(
    herald: Herald, capture: Capture
) -> None:
    """Mail that is not a DSN is refused at the bounce address, a forged bounce
    address is unknown, a stranger may not relay through the null sender,
    and a DSN that matches no recipient is kept and dropped."""
    run_id = smtp_message(herald, "delivered, stays delivered", to="kept@example.com")
    herald.wait_for_status(run_id, "sent")
    [mail] = capture.wait_for(lambda c: c.rcpt_tos == ["kept@example.com"])
    return_path = mail.mail_from

    code, reply = send_report(
        herald, return_path, b"From: x@example.com\r\nSubject: hello\r\n\r\nnot a report\r\n"
    )
    assert code == 550
    assert reply.startswith(b"5.7.1 This address takes only delivery status notifications")

    local, _, domain = return_path.partition("@")
    forged = f"{local[:-1]}{'1' if local.endswith('0') else '0'}@{domain}"
    code, reply = send_report(herald, forged, dsn(forged, "kept@example.com"))
    assert (code, reply) == (550, b"5.1.1 No such bounce address")

    code, _ = send_report(herald, "bob@example.com", dsn(return_path, "bob@example.com"))
    assert code == 554

    code, reply = send_report(herald, return_path, dsn(return_path, "someone@example.com"))
    assert code == 250, reply
    code, reply = send_report(
        herald, return_path, dsn(return_path, "kept@example.com", action="delayed", status="4.4.1")
    )
    assert code == 250, reply
    assert herald.run(run_id)["status"] == "sent"
    assert [row["matched"] for row in bounce_reports(herald, run_id)] == [0, 0]


def bounce_reports(herald: Herald, run_id: str) -> list[dict[str, Any]]:
    """The reports the daemon's store kept for ``run_id``, oldest first."""

    async def read() -> list[dict[str, Any]]:
        store = open_store(herald.env["HERALD_STORE"])
        assert isinstance(store, SQLStore)
        await store.open()
        try:
            rows = await store._read(
                "SELECT matched, detail FROM bounce_reports WHERE run_id = ? ORDER BY id", (run_id,)
            )
        finally:
            await store.close()
        return [dict(row) for row in rows]

    return asyncio.run(read())


def test_a_signed_message_verifies_with_dkimpy_against_the_published_key(
    herald: Herald, capture: Capture
) -> None:
    """``herald dkim keygen`` prints the TXT record; the next message from that
    domain arrives upstream signed relaxed/relaxed, and dkimpy verifies it
    against exactly that record; the private key is in no output or audit entry."""
    made = herald.cli("dkim", "keygen", "example.com", "--selector", "s2026")
    assert made.returncode == 0, made.stderr
    zone_line = made.stdout.splitlines()[-1]
    name, _, rest = zone_line.partition(". IN TXT ")
    assert name == "s2026._domainkey.example.com"
    record = "".join(re.findall(r'"([^"]*)"', rest))
    assert record.startswith("v=DKIM1; k=rsa; p=")

    run_id = smtp_message(herald, "signed", to="signed@example.com")
    herald.wait_for_status(run_id, "sent")
    [mail] = capture.wait_for(lambda c: c.rcpt_tos == ["signed@example.com"])
    signature = str(mail.message["DKIM-Signature"])
    assert "d=example.com" in signature
    assert "s=s2026" in signature
    assert "c=relaxed/relaxed" in signature

    looked_up = []

    def dns(name: bytes, timeout: int = 5) -> bytes:
        looked_up.append(name)
        return record.encode()

    assert dkim.verify(mail.content, dnsfunc=dns)
    assert looked_up == [b"s2026._domainkey.example.com."]
    # The body changed on the way: the signature no longer holds.
    assert not dkim.verify(mail.content.replace(b"body", b"BODY"), dnsfunc=dns)

    # Herald's own test send signs and checks its signature against the key.
    tested = herald.cli("smtp", "test", "--from", "app@example.com", "--to", "qa@example.com")
    assert tested.returncode == 0, tested.stderr
    assert "DKIM: signed for s2026._domainkey.example.com, verified against its key" in (
        tested.stdout
    )

    audit = herald.cli("audit", "--setting", "dkim", "--json")
    [entry] = [json.loads(line) for line in audit.stdout.splitlines()]
    assert entry["new"]["private_key"] == "******** (changed)"
    assert "PRIVATE KEY" not in made.stdout + audit.stdout + herald.log()
