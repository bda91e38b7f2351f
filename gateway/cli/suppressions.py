"""``herald suppressions``: list, search, add to, remove from and export the
recipients Herald no longer sends to. Every change is in ``herald audit``."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING

from gateway.cli import actor, with_store
from gateway.config import Config

if TYPE_CHECKING:
    from gateway.cli import Subcommands
    from gateway.store import Store


def register(commands: Subcommands, common: argparse.ArgumentParser) -> None:
    group = commands.add_parser("suppressions", help="recipients Herald no longer sends to")
    actions = group.add_subparsers(metavar="ACTION", required=True)
    listing = actions.add_parser("list", parents=[common], help="suppressed recipients, by address")
    listing.add_argument("--search", metavar="TEXT", help="only addresses containing TEXT")
    listing.add_argument("--limit", type=int, default=100)
    listing.add_argument("--json", action="store_true", help="print JSON lines")
    listing.set_defaults(command=_list)
    add = actions.add_parser("add", parents=[common], help="stop sending to an address")
    add.add_argument("address", metavar="ADDRESS")
    add.add_argument("--reason", help="kept with it (default: added by the operator)")
    add.set_defaults(command=_add)
    remove = actions.add_parser("remove", parents=[common], help="send to an address again")
    remove.add_argument("address", metavar="ADDRESS")
    remove.set_defaults(command=_remove)
    export = actions.add_parser("export", parents=[common], help="every suppression as CSV")
    export.set_defaults(command=_export)


def _list(config: Config, args: argparse.Namespace) -> int:
    from gateway.clock import rfc3339
    from gateway.presenters import suppression_json

    async def action(store: Store) -> int:
        entries = await store.list_suppressions(search=args.search, limit=args.limit)
        for entry in entries:
            if args.json:
                print(json.dumps(suppression_json(entry)))
                continue
            print(f"{entry.address}  {entry.source:<8} since {rfc3339(entry.created_at)}")
            print(f"    {entry.reason}")
        if not entries and not args.json:
            print("(no suppressions)")
        return 0

    return with_store(config, action)


def _add(config: Config, args: argparse.Namespace) -> int:
    from gateway.queue.suppression import operator_suppression

    new = operator_suppression(args.address, args.reason)

    async def action(store: Store) -> int:
        if await store.add_suppression(new, actor=actor()):
            print(f"{new.address}: suppressed")
        else:
            print(f"{new.address}: already suppressed")
        return 0

    return with_store(config, action)


def _remove(config: Config, args: argparse.Namespace) -> int:
    from gateway.queue.suppression import check_suppressed_address

    address = check_suppressed_address(args.address, "ADDRESS")

    async def action(store: Store) -> int:
        await store.remove_suppression(address, actor=actor())
        print(f"{address}: no longer suppressed")
        return 0

    return with_store(config, action)


def _export(config: Config, args: argparse.Namespace) -> int:
    from gateway.queue.suppression import export_pages

    async def action(store: Store) -> int:
        async for chunk in export_pages(store):
            sys.stdout.write(chunk)
        return 0

    return with_store(config, action)
