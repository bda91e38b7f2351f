"""Herald end to end: real daemon, real SMTP and HTTP clients, a real upstream."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.integration.harness import Capture, Herald, wait_until

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def event(kind: str, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = json.loads((FIXTURES / "events" / f"{kind}.json").read_text())
    body["id"] = f"evt_{uuid.uuid4().hex}"
    body.update(changes)
    return body


def run_ids(herald: Herald) -> set[str]:
    """The ids of the latest runs, whatever their status."""
    return {run["id"] for run in herald.admin("/v1/runs?limit=200").json["runs"]}


def accepted(herald: Herald, body: dict[str, Any]) -> str:
    answer = herald.post_event(body)
    assert answer.status == 202, answer.body
    run_id: str = answer.json["run_id"]
    return run_id


def test_event_arrives_rendered_with_bcc_only_in_the_envelope(
    herald: Herald, capture: Capture
) -> None:
    """A signed invoice event reaches the upstream as a multipart/alternative
    email to the customer, with the admin and extra BCCs in the envelope only."""
    run_id = accepted(herald, event("invoice.issued"))

    [mail] = capture.wait_for_run(run_id)
    message = mail.message
    assert mail.mail_from == "notify@herald.test"
    assert sorted(mail.rcpt_tos) == [
        "ada@example.com",
        "admin@herald.test",
        "audit@herald.test",
        "finance@herald.test",
    ]
    assert message["To"] == "Ada Lovelace <ada@example.com>"
    assert message["From"] == "Herald Test <notify@herald.test>"
    assert "INV-2026-0042" in message["Subject"]
    assert message["Bcc"] is None
    assert not any(name.lower().startswith("x-herald") for name in message)
    assert "admin@herald.test" not in mail.content.decode()
    assert message.get_content_type() == "multipart/alternative"
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None
    assert html is not None
    assert "INV-2026-0042" in text.get_content()
    assert "<html" in html.get_content().lower()
    assert "{{" not in html.get_content()


def test_run_records_every_recipient_with_its_rule_and_reply(
    herald: Herald, capture: Capture
) -> None:
    """The runs API shows one item per recipient: role, rule, status, reply, attempts."""
    run_id = accepted(herald, event("invoice.issued"))
    run = herald.wait_for_status(run_id, "sent")

    assert run["email_type"] == "invoice.issued"
    assert run["source"] == "webhook"
    items = {item["address"]: item for item in run["items"]}
    assert items["ada@example.com"]["role"] == "to"
    assert items["ada@example.com"]["rule"].startswith("event.recipient")
    assert items["admin@herald.test"]["role"] == "bcc"
    assert items["admin@herald.test"]["rule"] == "delivery.bcc_admin"
    assert items["finance@herald.test"]["rule"] == "delivery.bcc"
    for item in items.values():
        assert item["status"] == "sent"
        assert item["attempts"] == 1
        assert item["reply"].startswith("250")
    assert next(entry["event"] for entry in run["history"]) == "accepted"


def test_account_created_renders_from_the_recipient_alone(herald: Herald, capture: Capture) -> None:
    """account.created needs no data: the recipient is enough to render it."""
    run_id = accepted(herald, event("account.created", data={}))
    [mail] = capture.wait_for_run(run_id)
    assert mail.rcpt_tos == ["ada@example.com"]
    assert "Ada" in (mail.message.get_body(("plain",)) or mail.message).get_content()


def test_repeated_event_id_returns_the_same_run_and_sends_once(
    herald: Herald, capture: Capture
) -> None:
    """Replaying an event id answers the first run and sends nothing again."""
    before = run_ids(herald)
    body = event("account.created")
    first = herald.post_event(body)
    second = herald.post_event(body)
    assert first.status == second.status == 202
    assert second.json["run_id"] == first.json["run_id"]
    assert second.json["duplicate"] is True
    run = herald.wait_for_status(first.json["run_id"], "sent")
    # The replay recorded no run of its own, so nothing else can ever be sent for it.
    assert run_ids(herald) - before == {first.json["run_id"]}
    assert [item["attempts"] for item in run["items"]] == [1]
    assert len(capture.for_run(first.json["run_id"])) == 1


@pytest.mark.parametrize(
    ("headers_for", "reason"),
    [
        ("unsigned", "required"),
        ("wrong-secret", "no valid signature"),
        ("stale", "5 minutes"),
    ],
)
def test_unsigned_or_badly_signed_events_get_401(
    herald: Herald, headers_for: str, reason: str
) -> None:
    """With a webhook secret set, a request without a valid, fresh signature gets 401."""
    from tests.integration.harness import standard_webhooks_headers

    body = json.dumps(event("account.created")).encode()
    headers = {"Content-Type": "application/json"}
    if headers_for == "wrong-secret":
        headers |= standard_webhooks_headers("whsec_" + "A" * 44, body, "msg_1", int(time.time()))
    elif headers_for == "stale":
        headers |= standard_webhooks_headers(Herald.SECRET, body, "msg_1", int(time.time()) - 600)
    answer = herald.request("POST", "/v1/events", body, headers)
    assert answer.status == 401
    assert answer.headers["Content-Type"].startswith("application/problem+json")
    assert reason in answer.json["detail"]


def test_malformed_json_gets_400_problem(herald: Herald) -> None:
    """A body that is not JSON gets 400 problem+json."""
    answer = herald.post_event(b'{"id": "evt_1", ')
    assert answer.status == 400
    assert answer.headers["Content-Type"].startswith("application/problem+json")
    assert answer.json["status"] == 400


def test_invalid_event_gets_422_naming_each_field(herald: Herald, capture: Capture) -> None:
    """Each invalid field is named by a JSON pointer, and nothing is queued."""
    before = run_ids(herald)
    body = event("account.created")
    body["recipient"]["email"] = "ada@example.com\r\nBcc: victim@example.org"
    body["occurred_at"] = "yesterday"
    answer = herald.post_event(body)
    assert answer.status == 422
    pointers = {error["pointer"] for error in answer.json["errors"]}
    assert pointers == {"#/recipient/email", "#/occurred_at"}
    # Refused before a run exists: no run, so no message can ever reach the upstream.
    assert "run_id" not in answer.json
    assert run_ids(herald) == before


def test_unknown_email_type_is_rejected_and_recorded(herald: Herald) -> None:
    """An event type without a template gets 422 naming #/type, and the refusal is a run."""
    answer = herald.post_event(event("account.created", type="no.such.type"))
    assert answer.status == 422
    assert answer.json["errors"][0]["pointer"] == "#/type"
    run = herald.run(answer.json["run_id"])
    assert run["status"] == "rejected"
    assert "no.such.type" in run["error"]


def test_legacy_smtp_message_is_relayed_without_control_or_bcc_headers(
    herald: Herald, capture: Capture
) -> None:
    """A raw message sent over SMTP is relayed with its type's BCC policy applied,
    Herald's control headers and the Bcc header removed, and a Received line added."""
    raw = (
        "From: Billing App <app@example.com>\r\n"
        "To: Bob <bob@example.com>\r\n"
        "Cc: carol@example.com\r\n"
        "Bcc: hidden@example.com\r\n"
        "X-Herald-Type: legacy\r\n"
        "X-Herald-Customer: cus_9\r\n"
        "Subject: Your report\r\n"
        "\r\n"
        "Report attached.\r\n"
    )
    with herald.smtp() as client:
        client.ehlo()
        code, reply = client.docmd("MAIL FROM:<app@example.com>")
        assert code == 250
        for rcpt in ("bob@example.com", "carol@example.com", "hidden@example.com"):
            assert client.docmd(f"RCPT TO:<{rcpt}>")[0] == 250
        code, reply = client.data(raw.encode())
    assert code == 250, reply
    run_id = reply.decode().rsplit(" ", 1)[-1]
    assert run_id.startswith("run_")

    [mail] = capture.wait_for_run(run_id)
    assert mail.mail_from == "app@example.com"
    assert sorted(mail.rcpt_tos) == [
        "archive@herald.test",
        "bob@example.com",
        "carol@example.com",
        "hidden@example.com",
    ]
    message = mail.message
    assert message["Bcc"] is None
    assert message["X-Herald-Type"] is None
    assert message["X-Herald-Customer"] is None
    assert "by herald.test (Herald)" in message["Received"]
    assert message["Subject"] == "Your report"
    assert message.get_content().strip() == "Report attached."

    run = herald.wait_for_status(run_id, "sent")
    roles = {item["address"]: (item["role"], item["rule"]) for item in run["items"]}
    assert roles == {
        "bob@example.com": ("to", "envelope"),
        "carol@example.com": ("cc", "envelope"),
        "hidden@example.com": ("bcc", "envelope"),
        "archive@herald.test": ("bcc", "delivery.bcc"),
    }


def test_smtp_refuses_invalid_recipient_address(herald: Herald) -> None:
    """A recipient that is not a mailbox gets 553 5.1.3 at RCPT time."""
    with herald.smtp() as client:
        client.ehlo()
        client.docmd("MAIL FROM:<app@example.com>")
        code, reply = client.docmd("RCPT TO:<not an address>")
    assert code == 553
    assert b"5.1.3" in reply


def test_customers_off_suppresses_the_customer_but_sends_the_admin_copy(
    herald: Herald, capture: Capture
) -> None:
    """With customers off for system.alert, only the admin's BCC goes out and the
    customer is recorded as skipped with the setting that suppressed it."""
    run_id = accepted(herald, event("system.alert"))
    [mail] = capture.wait_for_run(run_id)
    assert mail.rcpt_tos == ["admin@herald.test"]
    run = herald.wait_for_status(run_id, "sent")
    customer = next(i for i in run["items"] if i["address"] == "ada@example.com")
    assert customer["status"] == "skipped"
    assert "customers is off" in customer["error"]


def test_recipient_refused_upstream_fails_alone(herald: Herald, capture: Capture) -> None:
    """When the upstream refuses one recipient with 550, only that one fails."""
    capture.rcpt_replies["audit@"] = "550 5.1.1 <audit@herald.test>: no such user"
    try:
        run_id = accepted(herald, event("invoice.issued"))
        run = herald.wait_for_status(run_id, "partial")
    finally:
        capture.rcpt_replies.clear()
    statuses = {item["address"]: item for item in run["items"]}
    assert statuses["audit@herald.test"]["status"] == "failed"
    assert statuses["audit@herald.test"]["error"].startswith("550 5.1.1")
    assert statuses["ada@example.com"]["status"] == "sent"
    [mail] = capture.for_run(run_id)
    assert "audit@herald.test" not in mail.rcpt_tos


def test_temporary_refusal_is_retried_until_delivered(herald: Herald, capture: Capture) -> None:
    """A 451 at DATA defers every recipient; the retry delivers them."""
    capture.data_replies.append("451 4.3.0 try again later")
    run_id = accepted(herald, event("account.created"))
    run = herald.wait_for_status(run_id, "sent", timeout=15)
    [item] = run["items"]
    assert item["attempts"] == 2
    events = [entry["event"] for entry in run["history"]]
    assert events == ["accepted", "deferred", "sent"]
    assert "451 4.3.0" in run["history"][1]["detail"]
    assert len(capture.for_run(run_id)) == 1


def test_permanent_refusal_fails_at_once(herald: Herald, capture: Capture) -> None:
    """A 554 at DATA fails the run on the first attempt, with the upstream's reply."""
    capture.data_replies.append("554 5.6.0 message refused")
    run_id = accepted(herald, event("account.created"))
    run = herald.wait_for_status(run_id, "failed")
    [item] = run["items"]
    assert item["attempts"] == 1
    assert item["error"] == "554 5.6.0 message refused"


def test_runs_api_needs_the_admin_token(herald: Herald) -> None:
    """Without the bearer token, or with a wrong one, the runs API answers 401."""
    for token in (None, "wrong-token"):
        answer = herald.admin("/v1/runs", token=token)
        assert answer.status == 401
        assert answer.headers["Content-Type"].startswith("application/problem+json")
        assert "Bearer" in answer.headers["WWW-Authenticate"]


def test_runs_list_is_newest_first_filtered_and_paginated(herald: Herald) -> None:
    """Runs come newest first, filter by type and status, and page with a cursor."""
    ids = [accepted(herald, event("resource.provisioned")) for _ in range(3)]
    for run_id in ids:
        herald.wait_for_status(run_id, "sent")
    first = herald.admin("/v1/runs?type=resource.provisioned&status=sent&limit=2").json
    assert [run["id"] for run in first["runs"]] == ids[::-1][:2]
    second = herald.admin(first["next"]).json
    assert second["runs"][0]["id"] == ids[0]
    assert all(run["email_type"] == "resource.provisioned" for run in second["runs"])
    assert herald.admin("/v1/runs?limit=0").status == 400


def test_unknown_run_and_unknown_route_get_404_problems(herald: Herald) -> None:
    """Unknown runs and routes answer 404 problem+json, never an HTML page."""
    for path in ("/v1/runs/run_nope", "/v1/nothing-here"):
        answer = herald.admin(path)
        assert answer.status == 404
        assert answer.headers["Content-Type"].startswith("application/problem+json")


def test_healthz_answers_when_the_store_is_reachable(herald: Herald) -> None:
    """/healthz needs no token and answers 200 while the store answers."""
    answer = herald.request("GET", "/healthz")
    assert answer.status == 200
    assert answer.json == {"status": "ok"}


def test_cli_reads_the_runs_the_daemon_recorded(herald: Herald) -> None:
    """`herald runs list` and `herald runs show` read the daemon's store."""
    run_id = accepted(herald, event("billing.updated"))
    herald.wait_for_status(run_id, "sent")
    listing = herald.cli("runs", "list", "--type", "billing.updated")
    assert listing.returncode == 0, listing.stderr
    assert run_id in listing.stdout
    shown = herald.cli("runs", "show", run_id)
    assert shown.returncode == 0
    assert "ada@example.com" in shown.stdout
    assert "250 2.0.0 Ok: captured" in shown.stdout
    as_json = json.loads(herald.cli("runs", "show", run_id, "--json").stdout)
    assert as_json["status"] == "sent"
    missing = herald.cli("runs", "show", "run_missing")
    assert missing.returncode == 1
    assert missing.stderr.strip() == "herald: no run 'run_missing'"


def test_start_up_log_says_where_everything_is(herald: Herald, capture: Capture) -> None:
    """The first log event names the listeners, the store, the upstream and the stages."""
    started = next(e for e in herald.log_events() if e.get("event") == "herald_started")
    assert started["smtp"] == f"127.0.0.1:{herald.smtp_port}"
    assert started["http"] == f"127.0.0.1:{herald.http_port}"
    assert started["store"] == herald.env["HERALD_STORE"]
    assert started["upstream"] == f"smtp://127.0.0.1:{capture.port}"
    assert started["stages"] == ["render-template", "substitute-tags", "delivery-policy"]
    assert Herald.SECRET not in herald.log()
    assert Herald.TOKEN not in herald.log()


def test_deferred_until_the_upstream_comes_back(tmp_path: Path) -> None:
    """With the upstream down, the message waits; once it is up, it is delivered."""
    from tests.integration.harness import free_port

    port = free_port()
    daemon = Herald(tmp_path, upstream=f"smtp://127.0.0.1:{port}", config=_fast_queue()).start()
    upstream = None
    try:
        run_id = accepted(daemon, event("account.created"))
        run = daemon.wait_for_status(run_id, "deferred")
        assert "Connect" in run["items"][0]["error"] or "refused" in run["items"][0]["error"]
        upstream = Capture(port).start()
        upstream.wait_for_run(run_id, timeout=15)
        daemon.wait_for_status(run_id, "sent")
    finally:
        if upstream:
            upstream.stop()
        assert daemon.stop() == 0


def test_no_upstream_captures_mail_to_a_local_maildir(tmp_path: Path) -> None:
    """Without an upstream, outgoing mail lands in the state directory's Maildir."""
    daemon = Herald(tmp_path, upstream=None, config=_fast_queue()).start()
    try:
        run_id = accepted(daemon, event("account.created"))
        daemon.wait_for_status(run_id, "sent")
    finally:
        assert daemon.stop() == 0
    outbox = tmp_path / "state" / "outbox" / "new"
    [path] = list(outbox.iterdir())
    content = path.read_bytes()
    assert f"{run_id}@herald.test".encode() in content
    assert b"X-Envelope-To: ada@example.com" in content


def test_accepted_mail_survives_a_restart(tmp_path: Path) -> None:
    """A message accepted while the upstream is down is delivered after a restart."""
    from tests.integration.harness import free_port

    port = free_port()
    daemon = Herald(tmp_path, upstream=f"smtp://127.0.0.1:{port}", config=_fast_queue()).start()
    run_id = accepted(daemon, event("account.created"))
    daemon.wait_for_status(run_id, "deferred")
    assert daemon.stop() == 0
    upstream = Capture(port).start()
    try:
        daemon.start()
        upstream.wait_for_run(run_id, timeout=15)
        assert daemon.wait_for_status(run_id, "sent")["items"][0]["status"] == "sent"
    finally:
        upstream.stop()
        daemon.stop()


def test_bad_configuration_is_reported_without_a_traceback(tmp_path: Path) -> None:
    """`herald check` names the file, the key and the expected value."""
    daemon = Herald(tmp_path, upstream=None, config='[queue]\nworkers = "many"\n')
    result = daemon.cli("check")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "[queue] workers: expected a whole number" in result.stderr
    assert str(daemon.config_file) in result.stderr


def test_check_prints_the_resolved_pipeline(tmp_path: Path) -> None:
    """`herald check` lists the stages in order, then the fixed core steps."""
    daemon = Herald(tmp_path, upstream=None, config="")
    result = daemon.cli("check")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    stages = [line.split()[1] for line in lines if line.strip()[:2] in ("1.", "2.", "3.")]
    assert stages == ["render-template", "substitute-tags", "delivery-policy"]
    assert "record the run" in result.stdout


def test_sigterm_stops_the_daemon_cleanly(tmp_path: Path) -> None:
    """SIGTERM closes the listeners and exits 0."""
    daemon = Herald(tmp_path, upstream=None, config="").start()
    assert daemon.stop() == 0
    assert any(e.get("event") == "herald_stopped" for e in daemon.log_events())
    wait_until(lambda: daemon.process is not None and daemon.process.poll() is not None)


def _fast_queue() -> str:
    return (
        '[queue]\nretry_initial = "0.3s"\nretry_max = "1s"\npoll_interval = "0.2s"\n'
        '[upstream]\nbreaker_cooldown = "0.2s"\n'
    )


def test_systemd_hears_ready_then_stopping(tmp_path: Path) -> None:
    """Under systemd (Type=notify) Herald reports READY=1 once it listens, and
    STOPPING=1 on SIGTERM."""
    import socket

    notify = tmp_path / "notify.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as listener:
        listener.bind(str(notify))
        listener.settimeout(10)
        daemon = Herald(tmp_path, upstream=None, config="")
        daemon.env["NOTIFY_SOCKET"] = str(notify)
        daemon.start()
        ready = listener.recv(4096).decode()
        assert "READY=1" in ready.splitlines()
        assert daemon.request("GET", "/healthz").status == 200
        assert daemon.stop() == 0
        assert listener.recv(4096).decode() == "STOPPING=1"
