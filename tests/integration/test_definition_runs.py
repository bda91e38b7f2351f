"""Definition runs end to end: customers, a definition, a batch of invoices, the upstream."""

from __future__ import annotations

import email.message
import io
import json
import shutil
import subprocess
import zipfile
from pathlib import Path
from typing import Any

import pytest

from tests.integration.harness import ROOT, Capture, Captured, Herald, multipart, wait_until

EXAMPLE = ROOT / "examples" / "invoices"
BATCH = EXAMPLE / "batch-2026-11"
SEVEN_ZIP = shutil.which("7zz") or shutil.which("7z")


@pytest.fixture(scope="module")
def example(herald: Herald) -> Herald:
    """The README's worked example, loaded through the CLI."""
    for args in (
        ("senders", "set", "billing", "--address", "billing@acme-cloud.test", "--name", "Billing"),
        ("customers", "import", str(EXAMPLE / "customers.jsonl")),
        ("definitions", "apply", str(EXAMPLE / "monthly-invoice.toml")),
    ):
        result = herald.cli(*args)
        assert result.returncode == 0, result.stderr
    return herald


def start(herald: Herald, batch: str) -> str:
    result = herald.cli(
        "runs", "start", "monthly-invoice", "--batch", batch, "--invoices", str(BATCH)
    )
    assert result.returncode == 0, result.stderr
    run_id: str = result.stdout.split()[1]
    return run_id


def attachments(message: email.message.EmailMessage) -> dict[str, tuple[str, bytes]]:
    found = {}
    for part in message.iter_attachments():
        assert isinstance(part, email.message.EmailMessage)
        payload = part.get_payload(decode=True)
        assert isinstance(payload, bytes)
        found[part.get_filename() or ""] = (part.get_content_type(), payload)
    return found


def by_customer(mails: list[Captured]) -> dict[str, Captured]:
    return {mail.message["To"].addresses[0].display_name: mail for mail in mails}


def unzip(archive: Path, password: str, into: Path) -> subprocess.CompletedProcess[str]:
    assert SEVEN_ZIP, "the 7z tool is missing: install 7zip (./scripts/setup does, as root)"
    return subprocess.run(
        [SEVEN_ZIP, "x", f"-p{password}", f"-o{into}", "-y", str(archive)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_each_selected_customer_gets_one_zipped_message_from_the_sender(
    example: Herald, capture: Capture, tmp_path: Path
) -> None:
    """Acme (two invoice addresses) and Globex each get exactly one message from
    the definition's sender, with one AES zip of their own PDF and CSV that 7z
    opens with the customer's VAT id and refuses with a wrong password."""
    run_id = start(example, "2026-11")
    run = example.wait_for_status(run_id, "sent")
    mails = capture.for_run(run_id)
    assert len(mails) == 2
    mails_by_name = by_customer(mails)
    assert set(mails_by_name) == {"Acme B.V.", "Globex GmbH"}
    acme = mails_by_name["Acme B.V."]
    assert sorted(acme.rcpt_tos) == ["ap@acme.example", "billing@acme.example"]
    assert acme.mail_from == "billing@acme-cloud.test"
    assert acme.message["From"] == "Billing <billing@acme-cloud.test>"
    assert acme.message["Subject"] == "Your invoice INV-2026-11-0001 for November 2026"
    text = acme.message.get_body(("plain",))
    assert text is not None
    assert "Dear Acme B.V." in text.get_content()

    [(name, (kind, data))] = attachments(acme.message).items()
    assert (name, kind) == ("invoice-INV-2026-11-0001.zip", "application/zip")
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        # Compression method 99 is WinZip AES; ZipCrypto would be 8 with flag bit 0 only.
        assert {info.compress_type for info in archive.infolist()} == {99}
        assert sorted(archive.namelist()) == ["INV-2026-11-0001.csv", "INV-2026-11-0001.pdf"]
    zipped = tmp_path / name
    zipped.write_bytes(data)
    opened = unzip(zipped, "NL001234567B01", tmp_path / "right")
    assert opened.returncode == 0, opened.stdout + opened.stderr
    for document in ("INV-2026-11-0001.pdf", "INV-2026-11-0001.csv"):
        original = (BATCH / "cus_acme" / document).read_bytes()
        assert (tmp_path / "right" / document).read_bytes() == original
    refused = unzip(zipped, "wrong-password", tmp_path / "wrong")
    assert refused.returncode != 0
    assert "Wrong password" in refused.stdout + refused.stderr

    globex = attachments(mails_by_name["Globex GmbH"].message)
    assert list(globex) == ["invoice-INV-2026-11-0002.zip"]
    assert run["counts"] == {"sent": 3, "skipped": 1}
    assert run["definition"] == "monthly-invoice"
    assert run["batch_id"] == "2026-11"
    assert run["finished_at"] is not None
    assert "NL001234567B01" not in json.dumps(run)
    assert "NL001234567B01" not in example.log()


def test_customers_without_an_address_are_skipped_and_others_not_selected(
    example: Herald,
) -> None:
    """Initech (no invoice address) is recorded skipped with the reason; Umbrella,
    outside the definition's clusters, is not part of the run at all."""
    run_id = start(example, "2026-11-skips")
    run = example.wait_for_status(run_id, "sent")
    items = {item["customer_id"]: item for item in run["items"]}
    assert set(items) == {"cus_acme", "cus_globex", "cus_initech"}
    assert items["cus_initech"]["status"] == "skipped"
    assert items["cus_initech"]["error"] == "no address under recipient key invoice"
    shown = example.cli("runs", "show", run_id)
    assert "no address under recipient key invoice" in shown.stdout
    assert "(template, rendered per customer)" in shown.stdout


def test_a_repeated_batch_sends_nothing(example: Herald, capture: Capture) -> None:
    """Starting the same definition and batch again, by CLI or API, answers the
    first run and queues nothing more."""
    run_id = start(example, "2026-11-again")
    example.wait_for_status(run_id, "sent")
    again = example.cli(
        "runs", "start", "monthly-invoice", "--batch", "2026-11-again", "--invoices", str(BATCH)
    )
    assert again.returncode == 0, again.stderr
    assert f"already ran as {run_id}; nothing sent" in again.stdout
    spool = example.workdir / "state" / "spool" / "monthly-invoice" / "2026-11-again"
    shutil.copytree(BATCH, spool)
    answer = example.admin_send(
        "POST",
        "/v1/definitions/monthly-invoice/runs",
        {"batch": "2026-11-again", "invoices": "monthly-invoice/2026-11-again"},
    )
    assert answer.status == 202, answer.body
    assert answer.json == {"run_id": run_id, "status": "duplicate", "duplicate": True}
    runs = example.admin("/v1/runs?type=monthly-invoice&limit=200").json["runs"]
    assert [r["id"] for r in runs if r.get("batch_id") == "2026-11-again"] == [run_id]
    assert example.run(run_id)["counts"] == {"sent": 3, "skipped": 1}
    assert len(capture.for_run(run_id)) == 2


def test_api_run_from_an_upload_attaches_pdf_and_csv(herald: Herald, capture: Capture) -> None:
    """Customers synced as JSON Lines, a definition put as JSON and invoices
    uploaded as multipart make a run whose message carries the PDF and CSV."""
    herald.admin_send("PUT", "/v1/senders/ops", {"address": "ops@acme-cloud.test"})
    lines = b"".join(
        json.dumps(c).encode() + b"\n"
        for c in (
            {
                "id": "api_1",
                "name": "One",
                "clusters": ["api"],
                "addresses": {"invoice": "one@x.test"},
            },
            {
                "id": "api_2",
                "name": "Two",
                "clusters": ["other"],
                "addresses": {"invoice": "two@x.test"},
            },
        )
    )
    imported = herald.admin_send(
        "POST", "/v1/customers", lines, content_type="application/x-ndjson"
    )
    assert imported.json == {"imported": 2}, imported.body
    definition = {
        "from_key": "ops",
        "recipient_key": "invoice",
        "clusters": ["api"],
        "attach": ["pdf", "csv"],
        "subject": "Invoice {{ invoice.number }}",
        "text": "Hello {{ customer.name }}",
    }
    put = herald.admin_send("PUT", "/v1/definitions/api-invoice", definition)
    assert put.status == 200, put.body
    pdf = (BATCH / "cus_acme" / "INV-2026-11-0001.pdf").read_bytes()
    body, content_type = multipart(
        [
            ("batch", b"2026-12"),
            ("api_1/INV-9.pdf", pdf),
            ("api_1/INV-9.csv", b"invoice,amount\r\nINV-9,10.00\r\n"),
            ("api_1/data.json", b'{"number": "INV-9"}'),
        ]
    )
    answer = herald.admin_send(
        "POST", "/v1/definitions/api-invoice/runs", body, content_type=content_type
    )
    assert answer.status == 202, answer.body
    run_id = answer.json["run_id"]
    herald.wait_for_status(run_id, "sent")
    [mail] = capture.wait_for_run(run_id)
    assert mail.rcpt_tos == ["one@x.test"]
    assert mail.message["Subject"] == "Invoice INV-9"
    assert attachments(mail.message) == {
        "INV-9.csv": ("text/csv", b"invoice,amount\r\nINV-9,10.00\r\n"),
        "INV-9.pdf": ("application/pdf", pdf),
    }


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        ({"batch": "b1", "invoices": "../../etc"}, "#/invoices"),
        ({"batch": "b1", "invoices": "/etc"}, "#/invoices"),
        ({"batch": "../b1", "invoices": "x"}, "#/batch"),
    ],
)
def test_api_refuses_invoices_outside_the_spool(
    example: Herald, body: dict[str, Any], pointer: str
) -> None:
    """A path leading out of the spool directory, or a batch id that is not a
    plain name, is refused with 422 naming the field."""
    answer = example.admin_send("POST", "/v1/definitions/monthly-invoice/runs", body)
    assert answer.status == 422, answer.body
    assert answer.json["errors"][0]["pointer"] == pointer


def test_failed_items_retry_and_one_item_resends(example: Herald, capture: Capture) -> None:
    """An address the upstream refuses fails its item; `runs retry` sends it once
    the upstream accepts; `runs resend` sends one item again."""
    # A refusal for policy: one saying the mailbox does not exist would
    # suppress the address, and the retry would skip it (tests/queue/test_suppression.py).
    capture.rcpt_replies["rechnung@globex"] = "550 5.7.1 Rejected by policy"
    try:
        run_id = start(example, "2026-11-retry")
        run = example.wait_for_status(run_id, "partial")
    finally:
        capture.rcpt_replies.clear()
    failed = [item for item in run["items"] if item["status"] == "failed"]
    assert [item["address"] for item in failed] == ["rechnung@globex.example"]
    assert failed[0]["error"].startswith("550 5.7.1")
    retried = example.cli("runs", "retry", run_id)
    assert retried.stdout.startswith("1 failed item(s) queued again"), retried.stderr
    run = example.wait_for_status(run_id, "sent")
    assert run["counts"] == {"sent": 3, "skipped": 1}
    retried_by = [entry["detail"] for entry in run["history"] if entry["event"] == "retried"]
    assert retried_by[0].startswith("1 item(s) composed again, by cli:")
    before = len(capture.for_run(run_id))
    item = next(i for i in run["items"] if i["address"] == "ap@acme.example")
    answer = example.admin_send("POST", f"/v1/runs/{run_id}/items/{item['id']}/resend", {})
    assert answer.status == 202, answer.body
    wait_until(lambda: len(capture.for_run(run_id)) == before + 1, what="the resent item")
    assert capture.for_run(run_id)[-1].rcpt_tos == ["ap@acme.example"]


def test_watch_prints_progress_lines_until_the_run_is_done(example: Herald) -> None:
    """Off a terminal, `runs watch` prints plain progress lines and the outcome."""
    run_id = start(example, "2026-11-watch")
    watched = example.cli("runs", "watch", run_id, "--interval", "0.1")
    assert watched.returncode == 0, watched.stderr
    assert "\r" not in watched.stdout
    assert f"run {run_id} sent: sent=3 skipped=1" in watched.stdout


def test_cancel_skips_what_was_not_sent(example: Herald, capture: Capture) -> None:
    """Cancelling a run whose messages wait for a retry skips them with a reason."""
    capture.rcpt_replies["@"] = "451 4.3.0 Try again later"
    try:
        run_id = start(example, "2026-11-cancel")
        example.wait_for_status(run_id, "deferred")
        answer = example.admin_send("POST", f"/v1/runs/{run_id}/cancel", {})
    finally:
        capture.rcpt_replies.clear()
    assert answer.status == 200, answer.body
    # A message out with the relay at that moment is recorded when it returns.
    run = wait_until(
        lambda: (found := example.run(run_id))["counts"] == {"skipped": 4} and found,
        what="every item of the cancelled run skipped",
    )
    assert run["status"] == "cancelled"
    assert {i["error"] for i in run["items"]} == {
        "run cancelled",
        "no address under recipient key invoice",
    }
    assert capture.for_run(run_id) == []


def test_customer_import_names_the_bad_line(example: Herald, tmp_path: Path) -> None:
    """A bad JSON Lines file is refused with the line and field, no traceback."""
    bad = tmp_path / "bad.jsonl"
    bad.write_text(
        '{"id": "ok_1", "clusters": ["eu"]}\n{"id": "ok_2", "addresses": {"invoice": "nope"}}\n'
    )
    result = example.cli("customers", "import", str(bad))
    assert result.returncode == 1
    expected = "herald: line 2 #/addresses/invoice/0: address 'nope' is not a valid"
    assert result.stderr.startswith(expected)
    assert "nothing was imported" in result.stderr
    assert "Traceback" not in result.stderr
