"""The store's rows as the faces present them: the admin API's JSON bodies and
the CLI's ``--json`` output, one function per row, so that both answer alike.

A face of Herald: it may import every layer, and only faces import it.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from gateway.billing.batches import Draft
from gateway.clock import rfc3339
from gateway.queue.diagnosis import Diagnosis
from gateway.store import (
    AuditEntry,
    DefinitionVersion,
    QueueEntry,
    Run,
    Suppression,
    TemplateVersion,
)

if TYPE_CHECKING:
    from gateway.content.composer import TemplateSummary
    from gateway.content.history import PartDiff

# Keys a run shows even when they are null, so that a client can tell "not
# yet" from "not this kind of run".
_NULLABLE = frozenset({"error", "fed_at", "finished_at"})


def run_json(run: Run) -> dict[str, Any]:
    """A run as ``/v1/runs`` and ``herald runs show --json`` present it."""
    body = asdict(run)
    body.pop("feed_cursor")
    if run.definition is None:
        for key in ("definition", "batch_id", "invoices_dir", "fed_at", "finished_at", "expected"):
            body.pop(key)
    for key in ("created_at", "updated_at", "fed_at", "finished_at"):
        if body.get(key) is not None:
            body[key] = rfc3339(body[key])
    for entry in (*body["items"], *body["history"]):
        for key in ("updated_at", "at"):
            if key in entry:
                entry[key] = rfc3339(entry[key])
    body["items"] = body["items"] or None
    body["history"] = body["history"] or None
    for item, row in zip(body["items"] or (), run.items, strict=True):
        item["attempted_at"] = [rfc3339(t) for t in row.attempt_times] or None
        for key in ("customer_id", "definition_version", "subject", "attachments", "attempted_at"):
            if item[key] is None:
                del item[key]
        if "attachments" in item:
            item["attachments"] = [
                {"name": name, "size": size} for name, size in json.loads(item["attachments"])
            ]
    return {k: v for k, v in body.items() if v is not None or k in _NULLABLE}


def audit_json(entry: AuditEntry) -> dict[str, Any]:
    """A setting change as ``/v1/audit`` and ``herald audit --json`` present it."""
    return {**asdict(entry), "at": rfc3339(entry.at)}


def queue_entry_json(entry: QueueEntry) -> dict[str, Any]:
    """A waiting message as ``/v1/queue`` and ``herald queue list --json`` present it."""
    body = asdict(entry)
    body["recipients"] = list(entry.recipients)
    for key in ("queued_at", "next_attempt_at"):
        body[key] = rfc3339(body[key])
    return body


def template_version_json(version: TemplateVersion) -> dict[str, Any]:
    """A version of a template as ``/v1/templates/{type}/versions`` presents it."""
    body: dict[str, Any] = {
        "type": version.email_type,
        "version": version.version,
        "action": version.action,
        "note": version.note,
        "created_at": rfc3339(version.created_at),
        "actor": version.actor,
    }
    if version.parts is not None:
        body |= asdict(version.parts)
    return body


def template_summary_json(summary: TemplateSummary) -> dict[str, Any]:
    """An email type as ``/v1/templates`` lists it: the edited version in
    force (null for the shipped default) and who changed it last, and when."""
    latest = summary.latest
    return {
        "type": summary.entry.name,
        "shipped": summary.shipped,
        "version": summary.version,
        "updated_by": latest.actor if latest else None,
        "updated_at": rfc3339(latest.created_at) if latest else None,
    }


def part_diff_json(diff: PartDiff) -> dict[str, Any]:
    """One part's changes as ``/v1/templates/{type}/versions/{v}/diff`` shows them."""
    return {
        "part": diff.part,
        "from": diff.old_label,
        "to": diff.new_label,
        "changed": diff.changed,
        "unified": diff.unified(),
    }


def draft_json(draft: Draft) -> dict[str, Any]:
    """A definition's message as ``definitions preview`` shows it: headers,
    body parts and attachments by name and size (a zip's password is never
    part of it)."""
    message = draft.message.as_message()
    parts = []
    for part in message.walk():
        if part.is_multipart() or part.get_content_disposition() == "attachment":
            continue
        payload = part.get_payload(decode=True)
        size = len(payload) if isinstance(payload, bytes) else 0
        entry: dict[str, Any] = {"type": part.get_content_type(), "size": size}
        if part.get_content_maintype() == "text":
            entry["content"] = part.get_content()
        else:
            entry["content_id"] = part.get("Content-ID")
            entry["filename"] = part.get_filename()
        parts.append(entry)
    return {
        "from": str(message["From"]),
        "to": str(message["To"]),
        "subject": draft.subject,
        "parts": parts,
        "attachments": [{"name": name, "size": size} for name, size in draft.attachments],
    }


def definition_version_json(version: DefinitionVersion) -> dict[str, Any]:
    """One version of a definition, as its history lists it."""
    return {
        "version": version.version,
        "action": version.action,
        "actor": version.actor,
        "created_at": rfc3339(version.created_at),
        "definition": asdict(version.definition),
    }


def diagnosis_json(to: str, diagnosis: Diagnosis) -> dict[str, Any]:
    """What a test send answers: where it went and what the upstream said."""
    return {
        "to": to,
        "upstream": diagnosis.upstream,
        "verdict": diagnosis.verdict,
        "reply": diagnosis.reply,
        "error": diagnosis.error,
    }


def suppression_json(entry: Suppression) -> dict[str, Any]:
    """A suppressed recipient as ``/v1/suppressions`` and ``herald suppressions list --json``
    present it."""
    return {**asdict(entry), "created_at": rfc3339(entry.created_at)}
