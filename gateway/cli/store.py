"""``herald store``: the store's size and its retention; ``herald migrate-store``:
move an installation from SQLite to PostgreSQL."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from gateway.cli import with_store
from gateway.config import Config

if TYPE_CHECKING:
    from gateway.cli import Subcommands
    from gateway.store import Store


def register(commands: Subcommands, common: argparse.ArgumentParser) -> None:
    store = commands.add_parser("store", help="the store's size, and pruning by [retention]")
    actions = store.add_subparsers(metavar="ACTION", required=True)
    stats = actions.add_parser("stats", parents=[common], help="size, runs, kept bodies")
    stats.add_argument("--json", action="store_true", help="print JSON")
    stats.set_defaults(command=_stats)
    prune = actions.add_parser(
        "prune", parents=[common], help="remove what [retention] lets go, now"
    )
    prune.add_argument("--dry-run", action="store_true", help="say what would go; remove nothing")
    prune.set_defaults(command=_prune)
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


def _stats(config: Config, args: argparse.Namespace) -> int:
    import json
    import time
    from dataclasses import asdict

    from gateway.clock import rfc3339

    async def action(store: Store) -> int:
        stats = await store.store_stats()
        if args.json:
            body = asdict(stats)
            body["oldest_body_at"] = rfc3339(stats.oldest_body_at) if stats.oldest_body_at else None
            print(json.dumps(body))
            return 0
        oldest = (
            f"{rfc3339(stats.oldest_body_at)} ({_days(time.time() - stats.oldest_body_at)} old)"
            if stats.oldest_body_at
            else "none"
        )
        size, free = _size(stats.size_bytes), _size(stats.free_bytes)
        print(f"store:        {stats.kind}, {size} ({free} free inside)")
        print(f"runs:         {stats.runs}")
        print(f"bodies kept:  {stats.bodies} (pruned: {stats.pruned})")
        print(f"oldest body:  {oldest}")
        print(f"retention:    {_clocks(config)}")
        return 0

    return with_store(config, action)


def _prune(config: Config, args: argparse.Namespace) -> int:
    async def action(store: Store) -> int:
        report = await store.prune(config.retention, dry_run=args.dry_run)
        if report.elsewhere:
            print("another node is pruning the store now; nothing done here")
            return 0
        verb = "would remove" if args.dry_run else "removed"
        print(
            f"{verb}: {report.bodies} message bodies, {report.runs} runs,"
            f" {report.audit} audit entries ({_clocks(config)})"
        )
        if not args.dry_run and report.freed_bytes:
            print(f"handed back: {_size(report.freed_bytes)}")
        return 0

    return with_store(config, action)


def _clocks(config: Config) -> str:
    retention = config.retention
    return ", ".join(
        f"{name} {_days(value) if value is not None else 'forever'}"
        for name, value in (
            ("bodies", retention.bodies),
            ("runs", retention.runs),
            ("audit", retention.audit),
        )
    )


def _days(seconds: float) -> str:
    if seconds >= 86400:
        return f"{seconds / 86400:.0f}d"
    if seconds >= 3600:
        return f"{seconds / 3600:.0f}h"
    return f"{seconds:.0f}s"


def _size(count: int) -> str:
    size = float(count)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GiB"
