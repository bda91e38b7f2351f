"""``herald queue``: what waits and why; retry now, hold, release, purge.

These act on the store directly; a running daemon picks the change up at
its next look at the queue (within ``[queue] poll_interval``).
"""

from __future__ import annotations

import argparse
import json
import time
from typing import TYPE_CHECKING

from gateway.cli import actor, with_store
from gateway.config import Config

if TYPE_CHECKING:
    from gateway.cli import Subcommands
    from gateway.store import Store


def register(commands: Subcommands, common: argparse.ArgumentParser) -> None:
    queue = commands.add_parser("queue", help="list and control waiting messages")
    actions = queue.add_subparsers(metavar="ACTION", required=True)
    listing = actions.add_parser("list", parents=[common], help="what waits, and why")
    listing.add_argument("--limit", type=int, default=100)
    listing.add_argument("--json", action="store_true", help="print JSON lines")
    listing.set_defaults(command=_list)
    retry = actions.add_parser("retry", parents=[common], help="try a message (or all) now")
    which = retry.add_mutually_exclusive_group(required=True)
    which.add_argument("message_id", metavar="ID", nargs="?")
    which.add_argument("--all", action="store_true", help="every queued message")
    retry.set_defaults(command=_retry)
    for name, text in (("hold", "keep a message from being sent"), ("release", "undo hold")):
        action = actions.add_parser(name, parents=[common], help=text)
        action.add_argument("message_id", metavar="ID")
        action.set_defaults(command=_change, action=name)
    purge = actions.add_parser("purge", parents=[common], help="remove a message for good")
    purge.add_argument("message_id", metavar="ID")
    purge.add_argument("--reason", help="kept on the run (default: purged by the operator)")
    purge.set_defaults(command=_change, action="purge")


def _list(config: Config, args: argparse.Namespace) -> int:
    from gateway.clock import rfc3339
    from gateway.presenters import queue_entry_json

    async def action(store: Store) -> int:
        stats = await store.queue_stats()
        entries = await store.list_queue(limit=args.limit)
        if args.json:
            for entry in entries:
                print(json.dumps(queue_entry_json(entry)))
            return 0
        age = (
            f", oldest {time.time() - stats.oldest_queued_at:.0f}s"
            if stats.oldest_queued_at
            else ""
        )
        print(f"{stats.depth} waiting ({stats.held} held){age}")
        for entry in entries:
            print(
                f"{entry.message_id}  {entry.status:<7} run={entry.run_id} type={entry.email_type}"
                f" attempts={entry.attempts} next={rfc3339(entry.next_attempt_at)}"
            )
            print(f"    to: {' '.join(entry.recipients)}")
            if entry.last_error:
                print(f"    why: {entry.last_error}")
        return 0

    return with_store(config, action)


def _retry(config: Config, args: argparse.Namespace) -> int:
    from gateway.queue.qmgr import check_message_id

    message_id = None if args.all else check_message_id(args.message_id, "ID")

    async def action(store: Store) -> int:
        count = await store.retry_now(message_id)
        print(f"{count} message(s) due now")
        return 0

    return with_store(config, action)


def _change(config: Config, args: argparse.Namespace) -> int:
    from gateway.queue.qmgr import check_message_id, check_reason

    message_id = check_message_id(args.message_id, "ID")
    reason = check_reason(args.reason, "--reason") if args.action == "purge" else ""

    async def action(store: Store) -> int:
        if args.action == "hold":
            await store.hold(message_id, actor=actor())
        elif args.action == "release":
            await store.release(message_id, actor=actor())
        else:
            await store.purge(message_id, reason, actor=actor())
        print(f"{message_id}: {args.action} done")
        return 0

    return with_store(config, action)
