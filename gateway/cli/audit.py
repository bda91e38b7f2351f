"""``herald audit``: every change of a setting, who made it and when."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING

from gateway.cli import with_store
from gateway.config import Config

if TYPE_CHECKING:
    from gateway.cli import Subcommands
    from gateway.store import Store


def register(commands: Subcommands, common: argparse.ArgumentParser) -> None:
    audit = commands.add_parser(
        "audit", parents=[common], help="setting changes: who, when, old and new value"
    )
    audit.add_argument("--setting", metavar="KEY", help="only this setting (smtp, delivery, ...)")
    audit.add_argument("--limit", type=int, default=20)
    audit.add_argument("--json", action="store_true", help="print JSON lines")
    audit.set_defaults(command=_list)


def _list(config: Config, args: argparse.Namespace) -> int:
    from gateway.clock import rfc3339
    from gateway.presenters import audit_json

    async def action(store: Store) -> int:
        entries = await store.list_audit(limit=args.limit, setting=args.setting)
        for entry in entries:
            if args.json:
                print(json.dumps(audit_json(entry)))
                continue
            print(f"{rfc3339(entry.at)}  {entry.actor:<16} {entry.setting}")
            print(f"    old: {json.dumps(entry.old, sort_keys=True)}")
            print(f"    new: {json.dumps(entry.new, sort_keys=True)}")
        if not entries and not args.json:
            print("(no changes)")
        return 0

    return with_store(config, action)
