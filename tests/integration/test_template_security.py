"""Template sandbox escapes and runaway templates, attacked over the admin API."""

from __future__ import annotations

from tests.integration.harness import Capture, Herald

ESCAPES = [
    "{{ '{0.__class__}'.format(data) }}",
    "{{ '{0.__class__}'.format_map({'0': data}) }}",
    "{{ ('{0.__class__.__mro__}'|attr('format'))(data) }}",
    "{{ data|attr('__class__') }}",
    "{{ cycler.__init__.__globals__ }}",
]
RUNAWAY = [
    "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
    "{% for i in range(100000) %}{{ 'x' * 1000 }}{% endfor %}",
]


def versions(herald: Herald) -> object:
    return herald.admin("/v1/templates/account.created/versions").json


def test_sandbox_escapes_are_refused_and_nothing_is_saved_or_sent(
    herald: Herald, capture: Capture
) -> None:
    """Saving or previewing a template that reaches for Python internals answers
    422 naming the subject, saves no version and sends nothing."""
    before, sent = versions(herald), len(capture.received)
    for source in ESCAPES:
        body = {"subject": f"Hi {source}"}
        saved = herald.admin("/v1/templates/account.created", method="PUT", body=body)
        assert saved.status == 422, (source, saved.body)
        assert saved.headers["Content-Type"].startswith("application/problem+json")
        assert saved.json["errors"][0]["pointer"] == "#/subject"
        # The refusal names the part; it shows no Python object the template reached.
        assert "<class" not in saved.body.decode()
        assert "object at 0x" not in saved.body.decode()
        preview = herald.admin("/v1/templates/account.created/preview", method="POST", body=body)
        assert preview.status == 422, (source, preview.body)
    assert versions(herald) == before
    assert len(capture.received) == sent


def test_runaway_templates_fail_with_a_clear_error(herald: Herald) -> None:
    """A template that loops without end or builds huge output is refused with a
    message saying which limit it hit; the daemon keeps answering."""
    for source in RUNAWAY:
        answer = herald.admin(
            "/v1/templates/account.created/preview", method="POST", body={"text": source}
        )
        assert answer.status == 422, answer.body
        detail = answer.body.decode()
        assert "time" in detail or "size" in detail or "large" in detail or "long" in detail
    assert herald.request("GET", "/healthz").status == 200
