"""``herald runs``: what was sent, to whom, when, and every error."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING

from gateway.cli import with_store
from gateway.config import Config
from gateway.store import Run, Store, as_json, rfc3339

if TYPE_CHECKING:
    from gateway.cli import Subcommands


def register(commands: Subcommands, common: argparse.ArgumentParser) -> None:
    runs = commands.add_parser("runs", help="list and show message runs")
    actions = runs.add_subparsers(metavar="ACTION", required=True)
    listing = actions.add_parser("list", parents=[common], help="newest runs first")
    listing.add_argument("--status", help="only runs with this status")
    listing.add_argument("--type", dest="email_type", help="only runs of this email type")
    listing.add_argument("--limit", type=int, default=20)
    listing.add_argument("--json", action="store_true", help="print JSON lines")
    listing.set_defaults(command=_list)
    show = actions.add_parser("show", parents=[common], help="one run with its recipients")
    show.add_argument("run_id", metavar="ID")
    show.add_argument("--json", action="store_true", help="print JSON")
    show.set_defaults(command=_show)


def _list(config: Config, args: argparse.Namespace) -> int:
    async def action(store: Store) -> int:
        page = await store.list_runs(
            status=args.status, email_type=args.email_type, limit=args.limit
        )
        if args.json:
            for run in page.runs:
                print(json.dumps(as_json(run)))
            return 0
        print(f"{'RUN':<28} {'CREATED':<24} {'STATUS':<9} {'TYPE':<22} SUBJECT")
        for run in page.runs:
            print(
                f"{run.id:<28} {rfc3339(run.created_at):<24} {run.status:<9}"
                f" {run.email_type:<22} {run.subject[:60]}"
            )
        if not page.runs:
            print("(no runs)")
        return 0

    return with_store(config, action)


def _show(config: Config, args: argparse.Namespace) -> int:
    async def action(store: Store) -> int:
        run = await store.get_run(args.run_id)
        if args.json:
            print(json.dumps(as_json(run), indent=2))
        else:
            _print(run)
        return 0

    return with_store(config, action)


def _print(run: Run) -> None:
    print(f"run:      {run.id}")
    print(f"status:   {run.status}")
    print(f"type:     {run.email_type} (from {run.source})")
    print(f"subject:  {run.subject}")
    print(f"from:     {run.mail_from or '<>'}")
    print(f"created:  {rfc3339(run.created_at)}")
    if run.error:
        print(f"error:    {run.error}")
    print("recipients:")
    for item in run.items:
        outcome = item.reply or item.error or ""
        print(
            f"  {item.address:<32} {item.role:<4} {item.status:<9} attempts={item.attempts}"
            f"  rule={item.rule}  {outcome}"
        )
    print("history:")
    for entry in run.history:
        print(f"  {rfc3339(entry.at)}  {entry.event:<9} {entry.detail}")
