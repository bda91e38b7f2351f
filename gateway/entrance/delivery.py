"""Who receives each email type: delivery settings saved in the store.

Per email type: send to the customer or reseller (on/off), BCC the admin,
BCC other addresses; and the admin's own address, set once. What an admin
saves (``herald delivery set``, ``PATCH /v1/delivery/types/{type}``) wins
over ``[delivery]`` in the configuration, which stays the default. The
``delivery-policy`` stage reads them at every message, so a change applies
to the next one in every process that shares the store.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from gateway.addresses import check_address
from gateway.config import Config, DeliverySettings, TypePolicy
from gateway.content.templating import Templates
from gateway.errors import Faults, InvalidInput
from gateway.store import BillingStore, SettingsStore

SETTING = "delivery"
ADMIN = f"{SETTING}/admin"
LEGACY = "legacy"
MAX_BCC = 50
CHANGEABLE = ("customers", "bcc_admin", "bcc", "ignore_suppressions")
FLAGS = ("customers", "bcc_admin", "ignore_suppressions")


def type_setting(email_type: str) -> str:
    return f"{SETTING}/types/{email_type}"


def known_types(templates: Templates, definitions: Sequence[str] = ()) -> list[str]:
    """Every email type Herald sends: those with a template, each message
    definition, and ``legacy``."""
    return sorted({*templates.types(), *definitions, LEGACY})


def check_type(email_type: str, templates: Templates, definitions: Sequence[str] = ()) -> str:
    known = known_types(templates, definitions)
    if email_type not in known:
        raise InvalidInput(
            "#/type", f"unknown email type {email_type!r} (known: {', '.join(known)})"
        )
    return email_type


def check_admin(address: Any) -> str:
    if not isinstance(address, str):
        raise InvalidInput("#/address", "must be an email address")
    try:
        return check_address(address, "the admin address")
    except ValueError as exc:
        raise InvalidInput("#/address", str(exc)) from exc


def apply(base: TypePolicy, changes: Mapping[str, Any]) -> TypePolicy:
    """``base`` with ``changes`` applied, every field checked; shared by the
    API and the CLI, raising ``InvalidInput`` so nothing is half-saved."""
    unknown = sorted(set(changes) - set(CHANGEABLE))
    if unknown:
        raise InvalidInput(
            f"#/{unknown[0]}", f"is not a delivery setting ({', '.join(CHANGEABLE)})"
        )
    # Every bad field is named, not only the first.
    faults = Faults()
    flags = {}
    for name in FLAGS:
        value = changes.get(name, getattr(base, name))
        if not isinstance(value, bool):
            faults.errors.append((f"#/{name}", "must be true or false (on or off)"))
        flags[name] = value
    bcc = base.bcc
    if "bcc" in changes:
        with faults.check():
            bcc = _bcc(changes["bcc"])
    faults.raise_any()
    return TypePolicy(**flags, bcc=bcc)


def _bcc(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise InvalidInput("#/bcc", "must be a list of email addresses")
    if len(value) > MAX_BCC:
        raise InvalidInput("#/bcc", f"must list at most {MAX_BCC} addresses")
    addresses: list[str] = []
    for index, address in enumerate(value):
        if not isinstance(address, str):
            raise InvalidInput(f"#/bcc/{index}", "must be an email address")
        try:
            check_address(address, "the BCC address")
        except ValueError as exc:
            raise InvalidInput(f"#/bcc/{index}", str(exc)) from exc
        if address.lower() not in (a.lower() for a in addresses):
            addresses.append(address)
    return tuple(addresses)


def _policy(saved: Mapping[str, Any]) -> TypePolicy:
    return TypePolicy(
        customers=bool(saved["customers"]),
        bcc_admin=bool(saved["bcc_admin"]),
        bcc=tuple(saved["bcc"]),
        # Saved before the setting existed: suppressions apply.
        ignore_suppressions=bool(saved.get("ignore_suppressions", False)),
    )


class SavedSettings(Protocol):
    """Where saved settings are read from: the store, or a stage's read-only view of it."""

    async def read_settings(self, prefix: str) -> dict[str, dict[str, Any]]: ...


async def current(store: SavedSettings, config: Config) -> tuple[DeliverySettings, dict[str, str]]:
    """The settings in force, and for each email type where they come from
    (``saved`` or ``configuration``; types in neither use the defaults)."""
    saved = await store.read_settings(SETTING)
    types = dict(config.delivery.types)
    sources = dict.fromkeys(types, "configuration")
    prefix = type_setting("")
    for key, value in saved.items():
        if key.startswith(prefix):
            email_type = key.removeprefix(prefix)
            types[email_type] = _policy(value)
            sources[email_type] = "saved"
    admin = saved.get(ADMIN, {}).get("address") or config.delivery.admin
    return DeliverySettings(admin=admin, types=types), sources


class DeliveryStore(SettingsStore, BillingStore, Protocol):
    """The saved settings, and the definitions that are email types too."""


async def _definitions(store: DeliveryStore) -> list[str]:
    return [definition.name for definition in await store.list_definitions()]


async def overview(store: DeliveryStore, config: Config, templates: Templates) -> dict[str, Any]:
    """Every known email type with its settings, as the API and CLI show them."""
    definitions = await _definitions(store)
    settings, sources = await current(store, config)
    saved_admin = ADMIN in await store.read_settings(ADMIN)
    return {
        "admin": settings.admin,
        "admin_source": "saved" if saved_admin else "configuration" if settings.admin else None,
        "types": [
            {
                "type": email_type,
                "customers": policy.customers,
                "bcc_admin": policy.bcc_admin,
                "bcc": list(policy.bcc),
                "ignore_suppressions": policy.ignore_suppressions,
                "source": sources.get(email_type, "default"),
            }
            for email_type in known_types(templates, definitions)
            for policy in [settings.policy(email_type)]
        ],
    }


async def set_type(
    store: DeliveryStore,
    config: Config,
    templates: Templates,
    email_type: str,
    changes: Mapping[str, Any],
    *,
    actor: str,
) -> TypePolicy:
    """Apply ``changes`` to the policy in force for ``email_type`` and save it."""
    check_type(email_type, templates, await _definitions(store))
    settings, _ = await current(store, config)
    policy = apply(settings.policy(email_type), changes)
    await store.write_setting(
        type_setting(email_type),
        {
            "customers": policy.customers,
            "bcc_admin": policy.bcc_admin,
            "bcc": list(policy.bcc),
            "ignore_suppressions": policy.ignore_suppressions,
        },
        actor=actor,
    )
    return policy


async def set_admin(store: SettingsStore, address: Any, *, actor: str) -> str:
    checked = check_admin(address)
    await store.write_setting(ADMIN, {"address": checked}, actor=actor)
    return checked
