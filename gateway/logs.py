"""structlog set-up: JSON off a terminal, pretty on one, secrets redacted."""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping, MutableMapping
from typing import Any

import structlog

REDACTED = "[redacted]"
# A field is secret when the last word of its name is one of these: its value
# is the secret itself (``password``, ``admin_token``, ``webhook_secrets``).
# A field that names a secret rather than holding it ends in another word
# (``token_name``, ``secret_fields``) and is kept, so that a log line can say
# which token was refused without saying what it was.
_SECRET_WORDS = frozenset(
    {"password", "passwords", "secret", "secrets", "token", "tokens", "authorization"}
)


def secret_field(name: str) -> bool:
    """Whether a log field called ``name`` holds a secret's value."""
    return name.lower().rpartition("_")[2] in _SECRET_WORDS


def _redacted(value: Any) -> Any:
    """``value`` with the secret fields of any table inside it blanked."""
    if isinstance(value, Mapping):
        return {
            key: REDACTED if isinstance(key, str) and secret_field(key) else _redacted(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_redacted(item) for item in value]
    # Anything else is kept as it is: ``exc_info``'s tuple, say, which the
    # traceback formatter after this processor still needs whole.
    return value


def redact(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Blank every field whose name says it holds a secret, at any depth."""
    for key, value in event.items():
        event[key] = REDACTED if secret_field(key) else _redacted(value)
    return event


def configure(*, level: str = "info", stream: Any = None) -> None:
    stream = stream or sys.stderr
    pretty = stream.isatty()
    renderer: Any = (
        structlog.dev.ConsoleRenderer() if pretty else structlog.processors.JSONRenderer()
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            redact,
            structlog.processors.format_exc_info if not pretty else structlog.dev.set_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(stream),
        cache_logger_on_first_use=True,
    )
