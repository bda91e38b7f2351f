"""``herald senders``: the sender identities named by from keys."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from gateway.cli import actor, with_store
from gateway.config import Config

if TYPE_CHECKING:
    from gateway.cli import Subcommands
    from gateway.store import Store


def register(commands: Subcommands, common: argparse.ArgumentParser) -> None:
    senders = commands.add_parser("senders", help="sender identities by from key")
    actions = senders.add_subparsers(metavar="ACTION", required=True)
    put = actions.add_parser("set", parents=[common], help="create or change a sender")
    put.add_argument("key", metavar="KEY")
    put.add_argument("--address", required=True)
    put.add_argument("--name", default="")
    put.set_defaults(command=_set)
    listing = actions.add_parser("list", parents=[common], help="every sender")
    listing.set_defaults(command=_list)
    drop = actions.add_parser(
        "remove", parents=[common], help="remove a sender no definition sends from"
    )
    drop.add_argument("key", metavar="KEY")
    drop.set_defaults(command=_remove)


def _set(config: Config, args: argparse.Namespace) -> int:
    from gateway.settings.senders import save, sender

    identity = sender(args.key, args.address, args.name)

    async def action(store: Store) -> int:
        await save(store, identity, actor=actor())
        print(f"sender {identity.key}: {identity.name} <{identity.address}>")
        return 0

    return with_store(config, action)


def _list(config: Config, args: argparse.Namespace) -> int:
    from gateway.settings import smtp as smtp_settings

    async def action(store: Store) -> int:
        upstreams = await smtp_settings.sender_upstreams(store)
        for identity in await store.list_senders():
            own = f"  via {upstreams[identity.key]}" if identity.key in upstreams else ""
            print(f"{identity.key:<20} {identity.name} <{identity.address}>{own}")
        return 0

    return with_store(config, action)


def _remove(config: Config, args: argparse.Namespace) -> int:
    from gateway.settings.senders import remove

    async def action(store: Store) -> int:
        await remove(store, args.key, actor=actor())
        print(f"sender {args.key} removed")
        return 0

    return with_store(config, action)
