"""The store's rows as the faces present them: the admin API's JSON bodies and
the CLI's ``--json`` output, one function per row, so that both answer alike.

A face of Herald: it may import every layer, and only faces import it.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from gateway.clock import rfc3339
from gateway.store import AuditEntry, QueueEntry, Run, Suppression, TemplateVersion

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
    for item in body["items"] or ():
        if item["customer_id"] is None:
            del item["customer_id"]
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
    }
    if version.parts is not None:
        body |= asdict(version.parts)
    return body


def suppression_json(entry: Suppression) -> dict[str, Any]:
    """A suppressed recipient as ``/v1/suppressions`` and ``herald suppressions list --json``
    present it."""
    return {**asdict(entry), "created_at": rfc3339(entry.created_at)}
