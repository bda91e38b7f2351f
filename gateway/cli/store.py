"""``herald migrate-store``: move an installation from SQLite to PostgreSQL."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from gateway.config import Config

if TYPE_CHECKING:
    from gateway.cli import Subcommands


def register(commands: Subcommands, common: argparse.ArgumentParser) -> None:
    move = commands.add_parser(
        "migrate-store",
        parents=[common],
        help="copy every run and setting from a SQLite file into an empty PostgreSQL store",
    )
    move.add_argument("--from", dest="source", required=True, metavar="SQLITE_PATH")
    move.add_argument("--to", dest="target", required=True, metavar="POSTGRESQL_URL")
    move.set_defaults(command=_migrate)


def _migrate(config: Config, args: argparse.Namespace) -> int:
    from gateway.store import redact_url, sqlite_path
    from gateway.store._postgres import PostgresStore
    from gateway.store._sqlite import SQLiteStore
    from gateway.store.migrate import copy_store

    if sqlite_path(args.target) is not None:
        print("herald: --to must be a postgresql:// URL", file=sys.stderr)
        return 2

    def progress(table: str, done: int, total: int) -> None:
        print(f"\r  {table:<24} {done}/{total}", end="" if done < total else "\n", flush=True)

    if not Path(args.source).is_file():
        print(f"herald: --from {args.source}: no such SQLite file", file=sys.stderr)
        return 2

    async def run() -> int:
        source = SQLiteStore(args.source)
        target = PostgresStore(args.target)
        await source.open()
        try:
            await target.open()
            try:
                copied = await copy_store(source, target, progress)
            finally:
                await target.close()
        finally:
            await source.close()
        print(f"moved {copied.get('runs', 0)} runs from {args.source} to {redact_url(args.target)}")
        print(f"now start every node with HERALD_STORE={redact_url(args.target)}")
        return 0

    return asyncio.run(run())
