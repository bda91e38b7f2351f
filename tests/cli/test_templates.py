"""Tests for gateway/cli/templates.py: ``herald tags``, ``render``, ``send-test``
and ``templates set|history|rollback|reset|show`` against a real daemon with a
brand and a real upstream."""

from __future__ import annotations

import json
from pathlib import Path

from tests.integration.harness import Capture, Herald
from tests.integration.harness import running_upstream as running_upstream
from tests.integration.test_templates import FIXTURES, write
from tests.integration.test_templates import branded as branded


def test_show_prints_the_template_in_force_and_history_its_versions(
    branded: Herald, tmp_path: Path
) -> None:
    """`templates show` prints the shipped default until a version is saved; `history`
    lists versions newest first, the one in force marked; `reset` returns to the default."""
    shipped = branded.cli("templates", "show", "resource.provisioned")
    assert shipped.returncode == 0, shipped.stderr
    assert shipped.stdout.startswith("# resource.provisioned: shipped default\n## subject\n")
    subject = write(tmp_path, "subject.txt", "{{ data.resource_name }} is ready")
    saved = branded.cli(
        "templates", "set", "resource.provisioned", "--subject", subject, "--note", "shorter"
    )
    assert saved.returncode == 0, saved.stderr
    try:
        shown = branded.cli("templates", "show", "resource.provisioned").stdout
        assert shown.startswith("# resource.provisioned: version ")
        assert "## subject\n{{ data.resource_name }} is ready\n" in shown
        history = branded.cli("templates", "history", "resource.provisioned").stdout.splitlines()
        assert history[1].endswith("(in force)")
        assert "shorter" in history[1]
    finally:
        reset = branded.cli("templates", "reset", "resource.provisioned")
    assert reset.returncode == 0, reset.stderr
    assert "shipped default" in branded.cli("templates", "show", "resource.provisioned").stdout


def test_unreadable_files_are_one_line_naming_the_option(branded: Herald, tmp_path: Path) -> None:
    """A template or data file that cannot be read, or data that is not JSON, exits 1."""
    missing = branded.cli(
        "templates", "set", "invoice.issued", "--subject", str(tmp_path / "none.txt")
    )
    assert missing.returncode == 1
    assert missing.stderr.startswith("herald: --subject: cannot read")
    broken = tmp_path / "data.json"
    broken.write_text("{not json", encoding="utf-8")
    render = branded.cli("render", "invoice.issued", "--data", str(broken))
    assert render.returncode == 1
    assert render.stderr.startswith(f"herald: --data: {broken} is not valid JSON")
    assert len(render.stderr.splitlines()) == 1


def test_cli_refuses_a_bad_template_with_every_error(branded: Herald, tmp_path: Path) -> None:
    """An unknown tag and a syntax error are printed against the files given,
    exit 1, and nothing is saved."""
    subject = write(tmp_path, "s.txt", "Invoice {{ data.invoice_numbr }}")
    html = write(tmp_path, "b.html", "<p>\n{% for x in %}</p>")
    result = branded.cli("templates", "set", "invoice.issued", "--subject", subject, "--html", html)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"herald: subject: {subject}, line 1: unknown tag data.invoice_numbr;"
        " did you mean data.invoice_number?",
        f"herald: html: {html}, line 2: Expected an expression, got 'end of statement block'",
        "herald: nothing was saved for invoice.issued",
    ]
    versions = branded.admin("/v1/templates/invoice.issued/versions").json["versions"]
    assert versions == []


def test_tags_are_listed_by_the_cli_and_the_api(branded: Herald) -> None:
    """`herald tags TYPE --json` and GET /v1/tags/TYPE give the same catalog entry."""
    result = branded.cli("tags", "invoice.issued", "--json")
    assert result.returncode == 0, result.stderr
    entry = json.loads(result.stdout)
    assert branded.admin("/v1/tags/invoice.issued").json == entry
    number = next(tag for tag in entry["tags"] if tag["name"] == "data.invoice_number")
    assert number["required"] is True
    assert number["example"] == "INV-2026-0042"
    unknown = branded.cli("tags", "invoice.isued")
    assert unknown.returncode == 1
    assert "did you mean 'invoice.issued'?" in unknown.stderr


def test_render_prints_the_complete_mime_message(branded: Herald) -> None:
    """`herald render TYPE --data FILE` prints the message the daemon would send."""
    result = branded.cli(
        "render",
        "subscription.activated",
        "--data",
        str(FIXTURES / "events" / "subscription.activated.json"),
    )
    assert result.returncode == 0, result.stderr
    assert "Subject: Your Business subscription is now active" in result.stdout
    assert "Content-Type: multipart/related" in result.stdout
    assert "Content-ID: <logo@herald>" in result.stdout


def test_send_test_arrives_at_the_upstream(branded: Herald, capture: Capture) -> None:
    """`herald send-test` sends through the configured upstream and prints its reply."""
    result = branded.cli("send-test", "invoice.issued", "--to", "qa@acme.test")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("sent: qa@acme.test via smtp://")
    assert "250 2.0.0 Ok: captured" in result.stdout
    [mail] = [c for c in capture.received if c.rcpt_tos == ["qa@acme.test"]]
    assert "INV-2026-0042" in mail.message["Subject"]
    assert mail.message.get_body(("html",)) is not None
