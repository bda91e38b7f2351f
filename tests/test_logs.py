"""The structlog redaction processor and what reaches a log line."""

from __future__ import annotations

import io
import json

import structlog
from hypothesis import given
from hypothesis import strategies as st

from gateway import logs


def test_secret_fields_are_blanked_whatever_their_case() -> None:
    """Fields named *password, *secret, *token or *authorization are replaced."""
    event = logs.redact(
        None,
        "info",
        {
            "event": "x",
            "password": "p1",
            "upstream_PASSWORD": "p2",
            "webhook_secret": "s",
            "admin_token": "t",
            "Authorization": "Bearer t",
            "login": "app",
        },
    )
    assert event == {
        "event": "x",
        "password": logs.REDACTED,
        "upstream_PASSWORD": logs.REDACTED,
        "webhook_secret": logs.REDACTED,
        "admin_token": logs.REDACTED,
        "Authorization": logs.REDACTED,
        "login": "app",
    }


@given(st.sampled_from(["password", "secret", "token", "authorization"]), st.text(min_size=8))
def test_configured_logger_never_prints_a_secret_field(word: str, secret: str) -> None:
    """Through the real configured chain, a secret field's value never reaches the output."""
    stream = io.StringIO()
    logs.configure(stream=stream)
    structlog.reset_defaults()
    logs.configure(stream=stream)
    structlog.get_logger("test").info("thing_happened", **{f"smtp_{word}": secret})
    line = json.loads(stream.getvalue().splitlines()[-1])
    assert line[f"smtp_{word}"] == logs.REDACTED
    structlog.reset_defaults()


def test_names_of_secrets_are_kept_and_nested_secrets_blanked() -> None:
    """A field that names a token (``token_name``) keeps its value, so a refusal can
    say which token it was; secret fields inside tables and plural ones are blanked."""
    event = logs.redact(
        None,
        "info",
        {
            "event": "admin_scope_refused",
            "token_name": "deploy-bot",
            "secret_fields": ["data"],
            "webhook_secrets": ["whsec_1", "whsec_2"],
            "settings": {"host": "mail.test", "password": "p", "nested": [{"token": "t"}]},
        },
    )
    assert event == {
        "event": "admin_scope_refused",
        "token_name": "deploy-bot",
        "secret_fields": ["data"],
        "webhook_secrets": logs.REDACTED,
        "settings": {
            "host": "mail.test",
            "password": logs.REDACTED,
            "nested": [{"token": logs.REDACTED}],
        },
    }
