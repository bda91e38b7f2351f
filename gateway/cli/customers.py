"""``herald customers``: the customers definitions send to, synced in bulk."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import AsyncIterator
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

from gateway.cli import actor, with_store
from gateway.config import Config
from gateway.errors import InvalidInput

if TYPE_CHECKING:
    from gateway.cli import Subcommands
    from gateway.store import Store


def register(commands: Subcommands, common: argparse.ArgumentParser) -> None:
    customers = commands.add_parser("customers", help="customers, their clusters and addresses")
    actions = customers.add_subparsers(metavar="ACTION", required=True)
    load = actions.add_parser(
        "import", parents=[common], help="create or replace customers from a JSON Lines file"
    )
    load.add_argument("file", metavar="FILE.jsonl", type=Path)
    load.add_argument(
        "--skip-bad",
        action="store_true",
        help="import the good lines even when some are bad (by default: all or nothing)",
    )
    load.set_defaults(command=_import)
    listing = actions.add_parser(
        "list", parents=[common], help="customers by id, or those a search finds"
    )
    listing.add_argument(
        "search", nargs="?", default="", help="part of an id, name, address or field value"
    )
    listing.add_argument("--cluster", help="only customers in this cluster")
    listing.add_argument("--limit", type=int, default=50)
    listing.add_argument("--after", default="", metavar="ID", help="start after this id")
    listing.add_argument("--json", action="store_true", help="print JSON lines")
    listing.set_defaults(command=_list)
    delete = actions.add_parser("delete", parents=[common], help="remove customers by id")
    delete.add_argument("ids", metavar="ID", nargs="+")
    delete.set_defaults(command=_delete)
    show = actions.add_parser("show", parents=[common], help="one customer as stored")
    show.add_argument("customer_id", metavar="ID")
    show.set_defaults(command=_show)


def _import(config: Config, args: argparse.Namespace) -> int:
    from gateway.billing.customers import sync

    path: Path = args.file
    if not path.is_file():
        raise InvalidInput("FILE", f"no file {str(path)!r}")

    async def lines() -> AsyncIterator[bytes]:
        with path.open("rb") as stream:
            for line in stream:
                yield line

    async def action(store: Store) -> int:
        bar = None
        if sys.stdout.isatty():
            from gateway.cli.runs import Progress

            with path.open("rb") as stream:
                total = sum(1 for _ in stream)
            bar = Progress(sys.stdout, total=total, what="lines checked")
        try:
            count = await sync(
                store,
                lines(),
                actor=actor(),
                progress=bar.update if bar else lambda n: None,
                skip_bad=args.skip_bad,
            )
        finally:
            if bar is not None:
                bar.done()
        print(f"imported {count} customer(s) from {path}")
        return 0

    return with_store(config, action)


def _list(config: Config, args: argparse.Namespace) -> int:
    if args.limit < 1:
        raise InvalidInput("--limit", "must be a whole number of at least 1")

    async def action(store: Store) -> int:
        found = await store.list_customers(
            search=args.search, cluster=args.cluster, after=args.after, limit=args.limit + 1
        )
        shown = found[: args.limit]
        if args.json:
            for customer in shown:
                print(json.dumps(asdict(customer)))
            return 0
        print(f"{'ID':<24} {'NAME':<28} {'CLUSTERS':<20} ADDRESSES")
        for c in shown:
            addresses = ", ".join(f"{k}={','.join(v)}" for k, v in c.addresses.items())
            print(f"{c.id:<24} {c.name[:28]:<28} {','.join(c.clusters)[:20]:<20} {addresses}")
        if not shown:
            print("(no customers)")
        elif len(found) > args.limit:
            print(f"(more: herald customers list --after {shown[-1].id})")
        return 0

    return with_store(config, action)


def _delete(config: Config, args: argparse.Namespace) -> int:
    async def action(store: Store) -> int:
        found = await store.delete_customers(args.ids, actor=actor())
        missing = len(set(args.ids)) - found
        print(f"deleted {found} customer(s)" + (f"; {missing} not found" if missing else ""))
        return 0 if not missing else 1

    return with_store(config, action)


def _show(config: Config, args: argparse.Namespace) -> int:
    async def action(store: Store) -> int:
        print(json.dumps(asdict(await store.get_customer(args.customer_id)), indent=2))
        return 0

    return with_store(config, action)
