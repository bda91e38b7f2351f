"""``herald customers``: the customers definitions send to, synced in bulk."""

from __future__ import annotations

import argparse
import json
from collections.abc import AsyncIterator
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

from gateway.cli import with_store
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
    load.set_defaults(command=_import)
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
        count = await sync(store, lines())
        print(f"imported {count} customer(s) from {path}")
        return 0

    return with_store(config, action)


def _show(config: Config, args: argparse.Namespace) -> int:
    async def action(store: Store) -> int:
        print(json.dumps(asdict(await store.get_customer(args.customer_id)), indent=2))
        return 0

    return with_store(config, action)
