"""How Herald reaches the mail server: SMTP settings saved in the store.

The settings an admin saves (``herald smtp set``, ``PATCH /v1/smtp``) win
over the configured upstream (``HERALD_UPSTREAM``, ``[upstream]``), which
stays the default while nothing is saved. A sender may have an upstream of
its own (``herald smtp set --sender KEY``). The relay reads them at each
delivery, so a change applies to the next message in every process that
shares the store.

Saved settings are JSON objects; the password in them is sealed by
``gateway.settings.vault`` and never leaves Herald again: what is shown says only
whether one is set.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from gateway.addresses import check_header_text, check_host
from gateway.config import Config, Upstream, describe_upstream
from gateway.errors import Faults, InvalidInput
from gateway.settings.vault import Vault
from gateway.store import SettingsStore

SETTING = "smtp"
SECRET_FIELDS = ("password",)
SECURITY = ("none", "starttls", "tls")
MAX_TIMEOUT = 3600.0

_DEFAULTS: dict[str, Any] = {
    "host": None,
    "port": 25,
    "security": "none",
    "verify": True,
    "ca_file": None,
    "login": None,
    "password": None,
    "timeout": 30.0,
    "connect_timeout": None,  # the same as timeout
}
CHANGEABLE = (*_DEFAULTS, "auth")
CONFIGURED = "(configured)"


def sender_setting(key: str) -> str:
    """The setting that holds the own upstream of the sender with from key ``key``."""
    return f"{SETTING}/sender/{key}"


def vault_for(config: Config) -> Vault:
    return Vault(config.settings_key_file)


def saved_form(upstream: Upstream | None, vault: Vault | None) -> dict[str, Any]:
    """``upstream`` (from the configuration) as a setting is saved, or the
    defaults. Without a vault the password is only marked as set."""
    if upstream is None:
        return dict(_DEFAULTS)
    return {
        "host": upstream.host,
        "port": upstream.port,
        "security": upstream.security,
        "verify": upstream.verify,
        "ca_file": str(upstream.ca_file) if upstream.ca_file else None,
        "login": upstream.username,
        "password": (vault.seal(upstream.password) if vault else CONFIGURED)
        if upstream.password
        else None,
        "timeout": upstream.timeout,
        "connect_timeout": upstream.connect_timeout,
    }


def apply(base: Mapping[str, Any], changes: Mapping[str, Any], vault: Vault) -> dict[str, Any]:
    """``base`` (a saved form) with ``changes`` applied, every field checked.

    Shared by the admin API and the CLI; raises ``InvalidInput`` naming
    every bad field, so nothing is ever half-saved.
    """
    unknown = sorted(set(changes) - set(CHANGEABLE))
    if unknown:
        raise InvalidInput(f"#/{unknown[0]}", f"is not an SMTP setting ({', '.join(CHANGEABLE)})")
    value = {**_DEFAULTS, **base}
    # Every bad field is named, not only the first.
    faults = Faults()
    checks: dict[str, Callable[[Any], Any]] = {
        "host": _host,
        "port": _port,
        "security": _security,
        "verify": lambda v: _boolean("verify", v),
        "ca_file": _ca_file,
        "timeout": lambda v: _seconds("timeout", v),
        "connect_timeout": lambda v: None if v in (None, "") else _seconds("connect_timeout", v),
    }
    for name, check in checks.items():
        if name in changes:
            with faults.check():
                value[name] = check(changes[name])
    auth = None
    with faults.check():
        auth = _boolean("auth", changes["auth"]) if "auth" in changes else None
    if auth is False:
        for name in ("login", "password"):
            if changes.get(name) not in (None, ""):
                faults.errors.append((f"#/{name}", "must not be given when auth is off"))
        value["login"] = value["password"] = None
    else:
        if "login" in changes:
            with faults.check():
                value["login"] = _text("login", changes["login"])
        if "password" in changes:
            with faults.check():
                value["password"] = vault.seal(_text("password", changes["password"]))
    faults.raise_any()
    if not value["host"]:
        raise InvalidInput("#/host", "is required: no upstream is set yet")
    if auth is True and not value["login"]:
        raise InvalidInput("#/login", "is required when auth is on")
    if value["login"] and not value["password"]:
        raise InvalidInput("#/password", "is required with a login")
    if value["password"] and not value["login"]:
        raise InvalidInput("#/login", "is required with a password")
    return value


def upstream(saved: Mapping[str, Any], source: str, config: Config, vault: Vault) -> Upstream:
    """The ``Upstream`` that ``saved`` (as ``chosen`` found it) names, its password unsealed."""
    if source == "configuration" and config.upstream.server is not None:
        return config.upstream.server
    value = {**_DEFAULTS, **saved}
    return Upstream(
        host=value["host"],
        port=value["port"],
        security=value["security"],
        username=value["login"],
        password=vault.open(value["password"]) if value["password"] else None,
        verify=value["verify"],
        ca_file=Path(value["ca_file"]) if value["ca_file"] else None,
        timeout=value["timeout"],
        connect_timeout=value["connect_timeout"],
    )


def public(saved: Mapping[str, Any] | None, source: str) -> dict[str, Any]:
    """What the API and the CLI show: everything but the password itself."""
    if saved is None:
        return {"source": source, "host": None}
    value = {**_DEFAULTS, **saved}
    shown = {key: value[key] for key in _DEFAULTS if key != "password"}
    return {
        "source": source,
        **shown,
        "auth": value["login"] is not None,
        "password_set": value["password"] is not None,
    }


def describe(saved: Mapping[str, Any]) -> str:
    """``smtp+starttls://login@host:587``: the upstream, without secrets."""
    value = {**_DEFAULTS, **saved}
    return describe_upstream(value["security"], value["host"], value["port"], value["login"])


async def current(
    store: SettingsStore, config: Config, *, sender: str | None = None
) -> tuple[dict[str, Any] | None, str]:
    """The saved form in force and where it comes from: the sender's own
    upstream, the saved settings, the configuration, or none (capture)."""
    saved = await store.read_settings(SETTING)
    return chosen(saved, config, [sender] if sender else [])


def chosen(
    saved: Mapping[str, dict[str, Any]], config: Config, senders: list[str]
) -> tuple[dict[str, Any] | None, str]:
    """The first of: the own upstream of one of ``senders``, the saved
    settings, the configured upstream; ``None`` when mail is captured."""
    for key in senders:
        if sender_setting(key) in saved:
            return saved[sender_setting(key)], f"sender {key}"
    if SETTING in saved:
        return saved[SETTING], "saved"
    if config.upstream.server is not None:
        return saved_form(config.upstream.server, None), "configuration"
    return None, "none"


async def editable(store: SettingsStore, config: Config, vault: Vault, key: str) -> dict[str, Any]:
    """What ``apply`` starts from for setting ``key``: its saved value, else,
    for the main settings, the configured upstream. A sender's own upstream
    starts from the defaults, so no login meant for another server leaks to it."""
    saved = await store.read_settings(key)
    if key in saved:
        return saved[key]
    return saved_form(config.upstream.server if key == SETTING else None, vault)


async def sender_upstreams(store: SettingsStore) -> dict[str, str]:
    """The own upstream of each sender that has one, described, by from key."""
    prefix = sender_setting("")
    return {
        key.removeprefix(prefix): describe(value)
        for key, value in (await store.read_settings(SETTING)).items()
        if key.startswith(prefix)
    }


async def save(
    store: SettingsStore, key: str, value: Mapping[str, Any] | None, *, actor: str
) -> None:
    await store.write_setting(key, value, actor=actor, secret_fields=SECRET_FIELDS)


def _host(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise InvalidInput("#/host", "must be a host name or an IP address")
    try:
        return check_host(value, "the host")
    except ValueError as exc:
        raise InvalidInput("#/host", str(exc)) from exc


def _port(value: Any) -> int:
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        raise InvalidInput("#/port", f"must be a whole number from 1 to 65535, got {value!r}")
    return value


def _security(value: Any) -> str:
    if value not in SECURITY:
        raise InvalidInput("#/security", f"must be one of {', '.join(SECURITY)}")
    return str(value)


def _boolean(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise InvalidInput(f"#/{name}", "must be true or false (on or off)")
    return value


def _seconds(name: str, value: Any) -> float:
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            value = float(value)
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or not 0 < value <= MAX_TIMEOUT
    ):
        raise InvalidInput(f"#/{name}", "must be a number of seconds above 0, at most 3600")
    return float(value)


def _text(name: str, value: Any) -> str:
    if not isinstance(value, str) or not value or len(value) > 512:
        raise InvalidInput(f"#/{name}", "must be a non-empty string of at most 512 characters")
    try:
        return check_header_text(value, f"the {name}")
    except ValueError as exc:
        raise InvalidInput(f"#/{name}", str(exc)) from exc


def _ca_file(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not Path(value).is_absolute():
        raise InvalidInput("#/ca_file", "must be an absolute path to a PEM file of CA certificates")
    if not Path(value).is_file():
        raise InvalidInput("#/ca_file", f"no such file: {value}")
    return value
