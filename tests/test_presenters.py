"""Tests for gateway/presenters.py: the JSON the admin API and the CLI give for the store's rows."""

from __future__ import annotations

from gateway.presenters import audit_json, queue_entry_json, run_json, template_version_json
from gateway.store import (
    AuditEntry,
    HistoryEntry,
    Item,
    QueueEntry,
    Run,
    TemplateParts,
    TemplateVersion,
)

AT = 1767225600.5  # 2026-01-01T00:00:00.500Z


def test_a_run_shows_rfc3339_times_and_leaves_out_what_is_not_its_kind() -> None:
    """A run that is no definition run has no definition keys, keeps a null error, and
    shows its times, items and history in RFC 3339."""
    item = Item(7, "ada@example.com", "to", "type", "sent", "250 ok", 1, None, AT)
    run = Run(
        id="run_1",
        source="webhook",
        email_type="invoice.issued",
        status="sent",
        subject="Hi",
        mail_from="app@example.com",
        created_at=AT,
        updated_at=AT + 1,
        error=None,
        idempotency_key="k",
        counts={"sent": 1},
        items=[item],
        history=[HistoryEntry(AT, "accepted", "1 recipient(s)")],
    )
    assert run_json(run) == {
        "id": "run_1",
        "source": "webhook",
        "email_type": "invoice.issued",
        "status": "sent",
        "subject": "Hi",
        "mail_from": "app@example.com",
        "created_at": "2026-01-01T00:00:00.500Z",
        "updated_at": "2026-01-01T00:00:01.500Z",
        "error": None,
        "idempotency_key": "k",
        "counts": {"sent": 1},
        "items": [
            {
                "id": 7,
                "address": "ada@example.com",
                "role": "to",
                "rule": "type",
                "status": "sent",
                "reply": "250 ok",
                "attempts": 1,
                "error": None,
                "updated_at": "2026-01-01T00:00:00.500Z",
            }
        ],
        "history": [
            {"at": "2026-01-01T00:00:00.500Z", "event": "accepted", "detail": "1 recipient(s)"}
        ],
    }


def test_a_definition_run_shows_its_batch_and_null_times_not_yet_reached() -> None:
    """A definition run shows its batch, its feed state and nulls for times not yet reached,
    never its feed cursor; without items or history it has neither key."""
    run = Run(
        id="run_2",
        source="definition",
        email_type="monthly",
        status="running",
        subject="Invoice",
        mail_from="billing@example.com",
        created_at=AT,
        updated_at=AT,
        error=None,
        idempotency_key=None,
        definition="monthly",
        batch_id="2026-01",
        invoices_dir="/srv/invoices",
        feed_cursor="cus_9",
        expected=3,
    )
    body = run_json(run)
    assert body["fed_at"] is None
    assert body["finished_at"] is None
    assert (body["definition"], body["batch_id"], body["expected"]) == ("monthly", "2026-01", 3)
    assert not {"feed_cursor", "items", "history", "idempotency_key"} & body.keys()


def test_audit_queue_and_template_rows_show_rfc3339_times() -> None:
    """An audit entry, a waiting message and a template version show their times in RFC 3339."""
    entry = AuditEntry(3, AT, "cli:root", "smtp", None, {"host": "mx"})
    assert audit_json(entry) == {
        "id": 3,
        "at": "2026-01-01T00:00:00.500Z",
        "actor": "cli:root",
        "setting": "smtp",
        "old": None,
        "new": {"host": "mx"},
    }
    waiting = QueueEntry("msg_1", "run_1", "x", "held", 2, AT, AT + 60, ("a@example.com",), "451")
    assert queue_entry_json(waiting) == {
        "message_id": "msg_1",
        "run_id": "run_1",
        "email_type": "x",
        "status": "held",
        "attempts": 2,
        "queued_at": "2026-01-01T00:00:00.500Z",
        "next_attempt_at": "2026-01-01T00:01:00.500Z",
        "recipients": ["a@example.com"],
        "last_error": "451",
    }
    saved = TemplateVersion(
        "x", 2, "save", TemplateParts("S", "<p>H</p>", ""), "n", AT, actor="console:ada"
    )
    assert template_version_json(saved) == {
        "type": "x",
        "version": 2,
        "action": "save",
        "note": "n",
        "created_at": "2026-01-01T00:00:00.500Z",
        "actor": "console:ada",
        "subject": "S",
        "html": "<p>H</p>",
        "text": "",
    }
    reset = TemplateVersion("x", 3, "reset", None, "", AT)
    assert "subject" not in template_version_json(reset)
