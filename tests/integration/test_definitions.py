"""Message definitions over real sockets: checked when applied, previewed and
test-sent, recovered after a failure, on the brand, and under the delivery
configuration."""

from __future__ import annotations

import email.message
import json
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.harness import ROOT, Capture, Herald

EXAMPLE = ROOT / "examples" / "invoices"
BATCH = EXAMPLE / "batch-2026-11"
LOGO = ROOT / "tests" / "fixtures" / "logo.png"

DEFINITION = """
name = "{name}"
from_key = "billing"
recipient_key = "invoice"
clusters = ["eu"]
attach = ["pdf"]
subject = "{subject}"
text = "Dear {{{{ customer.name }}}}, invoice {{{{ invoice.number }}}} is attached."
{extra}
"""


@pytest.fixture(scope="module")
def loaded(herald: Herald) -> Herald:
    """A sender and the worked example's customers, through the CLI."""
    for args in (
        ("senders", "set", "billing", "--address", "billing@acme-cloud.test", "--name", "Billing"),
        ("customers", "import", str(EXAMPLE / "customers.jsonl")),
    ):
        result = herald.cli(*args)
        assert result.returncode == 0, result.stderr
    return herald


def apply(
    herald: Herald,
    tmp_path: Path,
    name: str,
    *,
    subject: str = "Invoice {{ invoice.number }}",
    extra: str = "",
) -> tuple[int, str, str]:
    path = tmp_path / f"{name}.toml"
    path.write_text(DEFINITION.format(name=name, subject=subject, extra=extra), encoding="utf-8")
    result = herald.cli("definitions", "apply", str(path))
    return result.returncode, result.stdout, result.stderr


def start(herald: Herald, name: str, batch: str) -> str:
    result = herald.cli("runs", "start", name, "--batch", batch, "--invoices", str(BATCH))
    assert result.returncode == 0, result.stderr
    run_id: str = result.stdout.split()[1]
    return run_id


def test_a_tag_typo_is_refused_at_apply_with_a_did_you_mean_and_nothing_saved(
    loaded: Herald, tmp_path: Path
) -> None:
    """``customer.nam`` in the subject and an unknown root in the text are both
    named, each with its line and a suggestion; the definition is not saved,
    neither by the CLI nor by the admin API."""
    code, _, err = apply(
        loaded,
        tmp_path,
        "typo",
        subject="Hi {{ customer.nam }}",
        extra='html = """<p>Hello</p>\n<p>{{ custmer.name }}</p>"""',
    )
    assert code == 1
    assert "typo/subject.txt, line 1: unknown tag customer.nam; did you mean customer.name?" in err
    assert "typo/body.html, line 2: unknown tag custmer; did you mean customer?" in err
    assert "Traceback" not in err
    shown = loaded.cli("definitions", "show", "typo")
    assert shown.returncode == 1
    assert "no message definition 'typo'" in shown.stderr

    body = {
        "from_key": "billing",
        "recipient_key": "invoice",
        "clusters": ["eu"],
        "subject": "{{ invoice.number }",
        "text": "Dear {{ customer.nam }}",
    }
    answer = loaded.admin("/v1/definitions/typo", method="PUT", body=body)
    assert answer.status == 422
    problem = answer.json
    pointers = {error["pointer"]: error["detail"] for error in problem["errors"]}
    assert "line 1" in pointers["#/subject"]
    assert "did you mean customer.name?" in pointers["#/text"]
    assert loaded.admin("/v1/definitions/typo").status == 404


def test_preview_and_send_test_show_and_send_one_customers_email(
    loaded: Herald, capture: Capture, tmp_path: Path
) -> None:
    """Preview shows the subject, the attachment's name and size and the text
    with the batch's data; send-test hands that email to the upstream for the
    given address only."""
    code, out, err = apply(loaded, tmp_path, "preview-me")
    assert code == 0, err
    assert "applied as version 1" in out
    shown = loaded.cli(
        "definitions", "preview", "preview-me", "--customer", "cus_acme", "--batch", str(BATCH)
    )
    assert shown.returncode == 0, shown.stderr
    size = (BATCH / "cus_acme" / "INV-2026-11-0001.pdf").stat().st_size
    assert "Subject: Invoice INV-2026-11-0001" in shown.stdout
    assert f"Attachment: INV-2026-11-0001.pdf ({size} bytes)" in shown.stdout
    assert "Dear Acme B.V., invoice INV-2026-11-0001 is attached." in shown.stdout

    sent = loaded.cli(
        "definitions",
        "send-test",
        "preview-me",
        "--customer",
        "cus_acme",
        "--batch",
        str(BATCH),
        "--to",
        "tester@herald.test",
    )
    assert sent.returncode == 0, sent.stdout + sent.stderr
    [mail] = capture.wait_for(lambda c: c.rcpt_tos == ["tester@herald.test"])
    assert mail.mail_from == "billing@acme-cloud.test"
    assert mail.message["Subject"] == "Invoice INV-2026-11-0001"
    names = [part.get_filename() for part in mail.message.iter_attachments()]
    assert names == ["INV-2026-11-0001.pdf"]


def test_a_run_refused_upstream_is_retried_once_fixed_and_each_customer_gets_one(
    loaded: Herald, capture: Capture, tmp_path: Path
) -> None:
    """The upstream refuses Acme's addresses: their items fail while Globex's
    message goes. Once the definition is fixed and the upstream accepts,
    ``runs retry`` composes Acme's message from the definition in force and
    sends it; Globex gets nothing more, and each item says which version of
    the definition built it."""
    code, _, err = apply(loaded, tmp_path, "recover", subject="Old {{ invoice.number }}")
    assert code == 0, err
    capture.rcpt_replies["acme.example"] = "550 5.7.1 recipient refused by policy"
    try:
        run_id = start(loaded, "recover", "2026-11-recover")
        run = loaded.wait_for_status(run_id, "failed", "partial", timeout=20)
    finally:
        capture.rcpt_replies.clear()
    assert [m.message["To"].addresses[0].display_name for m in capture.for_run(run_id)] == [
        "Globex GmbH"
    ]
    failed = {i["address"] for i in run["items"] if i["status"] == "failed"}
    assert failed == {"billing@acme.example", "ap@acme.example"}

    again = loaded.cli(
        "runs", "start", "recover", "--batch", "2026-11-recover", "--invoices", str(BATCH)
    )
    assert f"herald runs retry {run_id}" in again.stdout
    code, out, err = apply(loaded, tmp_path, "recover", subject="New {{ invoice.number }}")
    assert code == 0, err
    assert "version 2" in out
    retried = loaded.cli("runs", "retry", run_id)
    assert retried.returncode == 0, retried.stderr
    assert "2 failed item(s) queued again" in retried.stdout
    run = loaded.wait_for_status(run_id, "sent", timeout=20)
    mails = capture.for_run(run_id)
    by_name: dict[str, list[email.message.EmailMessage]] = {}
    for mail in mails:
        by_name.setdefault(mail.message["To"].addresses[0].display_name, []).append(mail.message)
    assert sorted((name, len(found)) for name, found in by_name.items()) == [
        ("Acme B.V.", 1),
        ("Globex GmbH", 1),
    ]
    assert by_name["Acme B.V."][0]["Subject"] == "New INV-2026-11-0001"
    assert by_name["Globex GmbH"][0]["Subject"] == "Old INV-2026-11-0002"
    versions = {i["address"]: i.get("definition_version") for i in run["items"]}
    assert versions["rechnung@globex.example"] == 1
    assert versions["billing@acme.example"] == 2
    subjects = {i["address"]: i.get("subject") for i in run["items"]}
    assert subjects["billing@acme.example"] == "New INV-2026-11-0001"
    # Nothing is left to retry: a second retry sends nobody anything.
    assert "0 failed item(s)" in loaded.cli("runs", "retry", run_id).stdout
    history = loaded.cli("definitions", "history", "recover")
    assert history.stdout.splitlines()[1].split()[:2] == ["2", "apply"]


def test_a_definition_on_the_brand_layout_sends_its_logo_inline(
    loaded: Herald, capture: Capture, tmp_path: Path
) -> None:
    """An HTML body extending ``_layout.html`` renders (the layout addresses
    the customer) and carries the saved logo as a cid part the HTML refers to."""
    logo = loaded.cli("brand", "logo", str(LOGO))
    assert logo.returncode == 0, logo.stderr
    extra = (
        'html = """{% extends "_layout.html" %}{% block content %}'
        '<p>Dear {{ customer.name }}</p>{% endblock %}"""'
    )
    code, _, err = apply(loaded, tmp_path, "branded", extra=extra)
    assert code == 0, err
    run_id = start(loaded, "branded", "2026-11-branded")
    loaded.wait_for_status(run_id, "sent", timeout=20)
    mail = next(
        m
        for m in capture.for_run(run_id)
        if m.message["To"].addresses[0].display_name == "Acme B.V."
    )
    html = mail.message.get_body(("html",))
    assert html is not None
    assert 'src="cid:logo@herald"' in html.get_content()
    assert "This email was sent to billing@acme.example, ap@acme.example" in html.get_content()
    images = [p for p in mail.message.walk() if p.get_content_maintype() == "image"]
    assert len(images) == 1
    assert images[0]["Content-ID"] == "<logo@herald>"
    assert images[0].get_payload(decode=True) == LOGO.read_bytes()


def test_bcc_to_me_on_a_definition_type_sends_the_admin_a_copy(
    loaded: Herald, capture: Capture, tmp_path: Path
) -> None:
    """A definition is an email type in the delivery configuration: with
    "BCC to me" on, the admin is a recipient of each customer's message, and
    the copy shows no Bcc header."""
    code, _, err = apply(loaded, tmp_path, "copied")
    assert code == 0, err
    shown = loaded.cli("delivery", "show")
    assert "copied" in shown.stdout
    turned = loaded.cli("delivery", "set", "copied", "--bcc-admin", "on")
    assert turned.returncode == 0, turned.stderr
    run_id = start(loaded, "copied", "2026-11-copied")
    run = loaded.wait_for_status(run_id, "sent", timeout=20)
    mails = capture.for_run(run_id)
    assert len(mails) == 2
    for mail in mails:
        assert "admin@herald.test" in mail.rcpt_tos
        assert mail.message["Bcc"] is None
    bcc = [i for i in run["items"] if i["role"] == "bcc"]
    assert {i["rule"] for i in bcc} == {"delivery.bcc_admin"}
    assert len(bcc) == 2


def test_a_customers_file_with_one_bad_line_imports_nothing_and_names_it(
    loaded: Herald, tmp_path: Path
) -> None:
    """Line 2 is bad: neither line 1 nor line 3 is imported, and the error
    names line 2 and its field."""
    path = tmp_path / "customers.jsonl"
    lines = [
        {"id": "cus_new1", "name": "New One", "clusters": ["eu"]},
        {"id": "cus new2", "name": "Bad Id"},
        {"id": "cus_new3", "name": "New Three"},
    ]
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n", encoding="utf-8")
    result = loaded.cli("customers", "import", str(path))
    assert result.returncode == 1
    assert "line 2 #/id" in result.stderr
    assert "nothing was imported" in result.stderr
    listed = loaded.cli("customers", "list", "new")
    assert "(no customers)" in listed.stdout
    found = loaded.cli("customers", "list", "globex")
    assert "cus_globex" in found.stdout
    skipped = loaded.cli("customers", "import", str(path), "--skip-bad")
    assert skipped.returncode == 1
    assert "line 2 #/id" in skipped.stderr
    assert "1 bad line(s) skipped; the other 2 were imported" in skipped.stderr
    listed = loaded.cli("customers", "list", "new")
    assert "cus_new1" in listed.stdout
    assert "cus_new3" in listed.stdout


def test_runs_answer_precisely(loaded: Herald, tmp_path: Path) -> None:
    """An unknown status is refused by the CLI and the API; `runs show` says
    when it shows only part of a run and prints each item's subject as sent
    and its attachments; `runs list` says when more runs exist."""
    refused = loaded.cli("runs", "list", "--status", "bogus")
    assert refused.returncode == 1
    assert "unknown status 'bogus'" in refused.stderr
    answer = loaded.admin("/v1/runs?status=bogus")
    assert answer.status == 400
    [error] = answer.json["errors"]
    assert error["pointer"] == "status"
    # The API and the CLI say it in the same words.
    assert "unknown status 'bogus'" in error["detail"]

    code, _, err = apply(loaded, tmp_path, "told")
    assert code == 0, err
    run_id = start(loaded, "told", "2026-11-told")
    run = loaded.wait_for_status(run_id, "sent", timeout=20)
    total = sum(run["counts"].values())
    assert total > 2
    shown = loaded.cli("runs", "show", run_id, "--items", "2")
    assert shown.returncode == 0, shown.stderr
    assert f"(showing 2 of {total} recipients: herald runs show {run_id} --items {total}" in (
        shown.stdout
    )
    whole = loaded.cli("runs", "show", run_id)
    size = (BATCH / "cus_acme" / "INV-2026-11-0001.pdf").stat().st_size
    assert "subject: Invoice INV-2026-11-0001  (definition version 1)" in whole.stdout
    assert f"attachments: INV-2026-11-0001.pdf ({size} bytes)" in whole.stdout
    assert "showing" not in whole.stdout
    assert "attempted: 20" in whole.stdout
    sent = [i for i in loaded.run(run_id)["items"] if i["status"] == "sent"]
    assert all(len(i["attempted_at"]) == i["attempts"] == 1 for i in sent)
    start(loaded, "told", "2026-11-told-again")
    listed = loaded.cli("runs", "list", "--limit", "1")
    assert "(more runs than these 1: raise --limit to see more)" in listed.stdout


def test_an_event_missing_three_required_tags_gets_a_pointer_for_each(loaded: Herald) -> None:
    """``invoice.issued`` without its number, amount and currency is refused
    with 422 and one pointer per missing tag."""
    body = json.loads((ROOT / "tests" / "fixtures" / "events" / "invoice.issued.json").read_text())
    body["id"] = "evt_missing_three"
    body["data"] = {"due_date": "2026-12-01"}
    answer = loaded.post_event(body)
    assert answer.status == 422, answer.body
    assert [error["pointer"] for error in answer.json["errors"]] == [
        "#/data/invoice_number",
        "#/data/amount",
        "#/data/currency",
    ]
    assert answer.json["errors"][1]["detail"] == "the required tag data.amount has no value"


def test_two_bad_fields_get_a_pointer_each(loaded: Herald) -> None:
    """``PATCH /v1/smtp`` and ``PATCH /v1/delivery/types/...`` name every bad
    field, each with its own pointer, and save nothing."""
    smtp = loaded.admin_send("PATCH", "/v1/smtp", {"port": 0, "security": "ssl3"})
    assert smtp.status == 422, smtp.body
    assert [e["pointer"] for e in smtp.json["errors"]] == ["#/port", "#/security"]
    delivery = loaded.admin_send(
        "PATCH", "/v1/delivery/types/account.created", {"customers": "yes", "bcc": ["nope"]}
    )
    assert delivery.status == 422, delivery.body
    assert [e["pointer"] for e in delivery.json["errors"]] == ["#/customers", "#/bcc/0"]
    shown = loaded.admin("/v1/delivery").json
    row = next(t for t in shown["types"] if t["type"] == "account.created")
    assert row["source"] == "default"


def test_templates_set_names_the_file_given(loaded: Herald, tmp_path: Path) -> None:
    """A syntax error in ``--html bad.html`` is reported against bad.html, with its line."""
    bad = tmp_path / "bad.html"
    bad.write_text("<p>Hello</p>\n<p>{{ recipient.name </p>\n", encoding="utf-8")
    result = loaded.cli("templates", "set", "account.created", "--html", str(bad))
    assert result.returncode == 1
    assert f"herald: html: {bad}, line 2:" in result.stderr
    assert "body.html" not in result.stderr


def test_refused_events_count_as_refused_not_accepted(loaded: Herald) -> None:
    """An event of a type nobody knows is refused (422) and counted as
    refused; no accepted series carries the caller's made-up type."""

    def refused() -> float:
        text = loaded.admin("/metrics").body.decode()
        families = text_string_to_metric_families(text)
        return sum(
            sample.value
            for family in families
            for sample in family.samples
            if sample.name == "herald_refused_total"
            and sample.labels == {"source": "webhook", "reason": "rejected"}
        )

    before = refused()
    body = json.loads((ROOT / "tests" / "fixtures" / "events" / "invoice.issued.json").read_text())
    body["id"] = "evt_made_up_type"
    body["type"] = "made.up.type"
    answer = loaded.post_event(body)
    assert answer.status == 422, answer.body
    assert refused() == before + 1
    assert "made.up.type" not in loaded.admin("/metrics").body.decode()


def test_the_admin_api_previews_versions_rolls_back_and_manages_customers(
    loaded: Herald, tmp_path: Path
) -> None:
    """What the CLI does is in the API for a console to call: preview (never
    the zip password), versions and rollback, customers listed, searched and
    deleted, each change in the audit log."""
    body = {
        "from_key": "billing",
        "recipient_key": "invoice",
        "clusters": ["eu"],
        "attach": ["pdf"],
        "zip": True,
        "zip_password": "{{ customer.fields.vat_id }}",
        "subject": "First {{ invoice.number }}",
        "text": "Dear {{ customer.name }}",
    }
    first = loaded.admin_send("PUT", "/v1/definitions/api-made", body)
    assert first.status == 200, first.body
    assert first.json["version"] == 1
    second = loaded.admin_send(
        "PUT", "/v1/definitions/api-made", {**body, "subject": "Second {{ invoice.number }}"}
    )
    assert second.json["version"] == 2
    preview = loaded.admin_send(
        "POST", "/v1/definitions/api-made/preview", {"customer": "cus_acme"}
    )
    assert preview.status == 200, preview.body
    # Without a batch: sample invoice data, each field valued by its name.
    assert preview.json["subject"] == "Second NUMBER"
    assert preview.json["attachments"] == []
    assert "NL001234567B01" not in preview.body.decode()
    versions = loaded.admin("/v1/definitions/api-made/versions").json["versions"]
    assert [v["version"] for v in versions] == [2, 1]
    rolled = loaded.admin_send("POST", "/v1/definitions/api-made/rollback", {"version": 1})
    assert rolled.status == 200, rolled.body
    assert (rolled.json["version"], rolled.json["subject"]) == (3, "First {{ invoice.number }}")
    audit = loaded.admin("/v1/audit?setting=definitions/api-made").json["changes"]
    assert len(audit) == 3

    found = loaded.admin("/v1/customers?search=umbrella").json["customers"]
    assert [c["id"] for c in found] == ["cus_umbrella"]
    page = loaded.admin("/v1/customers?limit=1").json
    assert len(page["customers"]) == 1
    assert "next_cursor" in page
    gone = loaded.admin_send("DELETE", "/v1/customers/cus_umbrella")
    assert gone.status == 200, gone.body
    assert loaded.admin("/v1/customers/cus_umbrella").status == 404
    assert loaded.admin_send("DELETE", "/v1/customers/cus_umbrella").status == 404
    assert loaded.admin("/v1/audit?setting=customers/cus_umbrella").json["changes"]
