"""Delivery settings changed at run time: who receives each email type, the
audit log of every change, and the dry run that sends nothing."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

from tests.integration.harness import Capture, Herald

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def event(kind: str) -> dict[str, Any]:
    body: dict[str, Any] = json.loads((FIXTURES / "events" / f"{kind}.json").read_text())
    body["id"] = f"evt_{uuid.uuid4().hex}"
    return body


def delivered(herald: Herald, capture: Capture, kind: str) -> tuple[Any, dict[str, Any]]:
    answer = herald.post_event(event(kind))
    assert answer.status == 202, answer.body
    run_id = answer.json["run_id"]
    [mail] = capture.wait_for_run(run_id)
    return mail, herald.wait_for_status(run_id, "sent")


def test_delivery_settings_change_the_envelope_of_the_next_message(
    herald: Herald, capture: Capture
) -> None:
    """In a running daemon, turning customers off (CLI) sends only the admin's
    and BCC copies, addressed to the admin; turning them on again (API) and
    changing the admin address apply to the next message, no restart."""
    mail, _ = delivered(herald, capture, "account.created")
    assert mail.rcpt_tos == ["ada@example.com"]

    result = herald.cli(
        "delivery", "set", "account.created",
        "--customers", "off", "--bcc-admin", "on", "--bcc", "extra@herald.test",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    mail, run = delivered(herald, capture, "account.created")
    assert sorted(mail.rcpt_tos) == ["admin@herald.test", "extra@herald.test"]
    assert mail.message["To"] == "admin@herald.test"
    assert mail.message["Cc"] is None
    customer = next(i for i in run["items"] if i["address"] == "ada@example.com")
    assert customer["status"] == "skipped"
    assert customer["error"] == "delivery.account.created.customers is off"

    answer = herald.admin_send("PUT", "/v1/delivery/admin", {"address": "ops@herald.test"})
    assert answer.status == 200, answer.body
    answer = herald.admin_send(
        "PATCH", "/v1/delivery/types/account.created", {"customers": True, "bcc": []}
    )
    assert answer.json == {
        "type": "account.created",
        "customers": True,
        "bcc_admin": True,
        "bcc": [],
        "ignore_suppressions": False,
        "source": "saved",
    }
    mail, _ = delivered(herald, capture, "account.created")
    assert sorted(mail.rcpt_tos) == ["ada@example.com", "ops@herald.test"]
    assert mail.message["To"] == "Ada Lovelace <ada@example.com>"

    shown = herald.admin("/v1/delivery").json
    assert shown["admin"] == "ops@herald.test"
    types = {row["type"]: row for row in shown["types"]}
    assert types["account.created"]["source"] == "saved"
    assert types["invoice.issued"]["source"] == "configuration"
    assert types["legacy"]["bcc"] == ["archive@herald.test"]
    assert "ops@herald.test" in herald.cli("delivery", "show").stdout

    changes = herald.admin("/v1/audit?setting=delivery").json["changes"]
    assert [c["actor"] for c in changes][:3] == ["admin-api", "admin-api", changes[2]["actor"]]
    assert changes[2]["actor"].startswith("cli:")
    assert changes[0]["old"]["customers"] is False
    assert changes[0]["new"]["customers"] is True
    assert changes[1] | {"at": None, "id": None} == {
        "id": None,
        "at": None,
        "actor": "admin-api",
        "setting": "delivery/admin",
        "old": None,
        "new": {"address": "ops@herald.test"},
    }
    herald.admin_send(
        "PATCH", "/v1/delivery/types/account.created", {"customers": True, "bcc_admin": False}
    )
    herald.admin_send("PUT", "/v1/delivery/admin", {"address": "admin@herald.test"})


def test_who_would_receive_an_event_sends_nothing(herald: Herald, capture: Capture) -> None:
    """The dry run (API and CLI) lists each recipient with the rule that put it
    there, records no run and sends nothing."""
    before_runs = [run["id"] for run in herald.admin("/v1/runs?limit=200").json["runs"]]
    body = event("invoice.issued")
    answer = herald.admin_send("POST", "/v1/delivery/dry-run", body)
    assert answer.status == 200, answer.body
    assert answer.json["decision"] == "send"
    assert "INV-2026-0042" in answer.json["subject"]
    rules = {r["address"]: (r["role"], r["rule"], r["receives"]) for r in answer.json["recipients"]}
    assert rules == {
        "ada@example.com": ("to", "event.recipient (customer)", True),
        "admin@herald.test": ("bcc", "delivery.bcc_admin", True),
        "finance@herald.test": ("bcc", "delivery.bcc", True),
        "audit@herald.test": ("bcc", "delivery.bcc", True),
    }

    alert = herald.cli("delivery", "dry-run", "-", input=json.dumps(event("system.alert")))
    assert alert.returncode == 0, alert.stderr
    assert "ada@example.com" in alert.stdout
    assert "nothing: delivery.system.alert.customers is off" in alert.stdout
    assert "rule=delivery.bcc_admin  receives" in alert.stdout

    unknown = herald.admin_send("POST", "/v1/delivery/dry-run", {**body, "type": "no.such"})
    assert unknown.json["decision"] == "reject"
    invalid = herald.admin_send("POST", "/v1/delivery/dry-run", {**body, "recipient": {}})
    assert invalid.status == 422
    # No run was recorded, so nothing was queued and nothing can reach the upstream.
    assert [run["id"] for run in herald.admin("/v1/runs?limit=200").json["runs"]] == before_runs
