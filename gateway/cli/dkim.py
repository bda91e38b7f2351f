"""``herald dkim``: DKIM keys per sender domain, and the DNS records to publish."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from gateway.cli import actor, with_store
from gateway.config import Config

if TYPE_CHECKING:
    from gateway.cli import Subcommands
    from gateway.store import Store


def register(commands: Subcommands, common: argparse.ArgumentParser) -> None:
    group = commands.add_parser("dkim", help="DKIM keys that sign mail per sender domain")
    actions = group.add_subparsers(metavar="ACTION", required=True)
    keygen = actions.add_parser(
        "keygen", parents=[common], help="make a key for DOMAIN; prints the TXT record"
    )
    keygen.add_argument("domain", metavar="DOMAIN")
    keygen.add_argument("--selector", default="herald", help="the DNS selector (default herald)")
    keygen.add_argument("--replace", action="store_true", help="replace the domain's key")
    keygen.set_defaults(command=_keygen)
    show = actions.add_parser("show", parents=[common], help="every key's TXT record")
    show.set_defaults(command=_show)
    remove = actions.add_parser("remove", parents=[common], help="stop signing for DOMAIN")
    remove.add_argument("domain", metavar="DOMAIN")
    remove.set_defaults(command=_remove)


def _keygen(config: Config, args: argparse.Namespace) -> int:
    from gateway.settings import dkim
    from gateway.settings.smtp import vault_for

    async def action(store: Store) -> int:
        key = await dkim.keygen(
            store,
            vault_for(config),
            args.domain,
            args.selector,
            actor=actor(),
            replace=args.replace,
        )
        print(f"{key.domain}: new key, selector {key.selector}; publish this TXT record:")
        print(key.zone_line())
        return 0

    return with_store(config, action)


def _show(config: Config, args: argparse.Namespace) -> int:
    from gateway.settings import dkim

    async def action(store: Store) -> int:
        found = await dkim.keys(store)
        for key in found:
            print(key.zone_line())
        if not found:
            print("(no DKIM keys: mail goes unsigned)")
        return 0

    return with_store(config, action)


def _remove(config: Config, args: argparse.Namespace) -> int:
    from gateway.settings import dkim

    async def action(store: Store) -> int:
        await dkim.remove(store, args.domain, actor=actor())
        print(f"{args.domain}: no longer signed")
        return 0

    return with_store(config, action)
