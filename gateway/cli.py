"""The ``herald`` command: run the daemon, check the configuration, read runs."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from gateway import __version__, logs, pipeline
from gateway import config as configuration
from gateway.errors import GatewayError
from gateway.store import Run, Store, as_json, open_store, rfc3339


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "command"):
        parser.print_help()
        return 2
    try:
        config = configuration.load(args.config)
        result: int = args.command(config, args)
        return result
    except GatewayError as exc:
        print(f"herald: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="herald", description="Herald email gateway")
    parser.add_argument("--version", action="version", version=f"herald {__version__}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "-c", "--config", metavar="FILE", help="configuration file (default: $HERALD_CONFIG)"
    )
    commands = parser.add_subparsers(metavar="COMMAND")

    serve = commands.add_parser("serve", parents=[common], help="run the gateway")
    serve.add_argument("--log-level", default="info", choices=["debug", "info", "warning"])
    serve.set_defaults(command=_serve)

    check = commands.add_parser(
        "check", parents=[common], help="validate the configuration and print the pipeline"
    )
    check.set_defaults(command=_check)

    runs = commands.add_parser("runs", help="list and show message runs")
    runs_commands = runs.add_subparsers(metavar="ACTION", required=True)
    listing = runs_commands.add_parser("list", parents=[common], help="newest runs first")
    listing.add_argument("--status", help="only runs with this status")
    listing.add_argument("--type", dest="email_type", help="only runs of this email type")
    listing.add_argument("--limit", type=int, default=20)
    listing.add_argument("--json", action="store_true", help="print JSON lines")
    listing.set_defaults(command=_runs_list)
    show = runs_commands.add_parser("show", parents=[common], help="one run with its recipients")
    show.add_argument("run_id", metavar="ID")
    show.add_argument("--json", action="store_true", help="print JSON")
    show.set_defaults(command=_runs_show)
    return parser


def _serve(config: configuration.Config, args: argparse.Namespace) -> int:
    from gateway.daemon import serve

    logs.configure(level=args.log_level)
    asyncio.run(serve(config))
    return 0


def _check(config: configuration.Config, args: argparse.Namespace) -> int:
    factories = pipeline.resolve(config.stages)
    print(f"configuration: {config.source or 'built-in defaults'}")
    print(f"smtp listener: {config.smtp_listen}")
    print(f"http listener: {config.http_listen}")
    print(f"store:         {config.store_url}")
    print(f"upstream:      {config.upstream or f'none: capture to Maildir {config.capture_dir}'}")
    print(f"templates:     {config.templates_dir}")
    print("pipeline:")
    for number, factory in enumerate(factories, 1):
        print(f"  {number}. {factory.name:<18} {factory.description}")
    print("  then (always): record the run, queue, relay upstream")
    return 0


def _with_store(
    config: configuration.Config, action: Callable[[Store], Coroutine[Any, Any, int]]
) -> int:
    async def run() -> int:
        store = open_store(config.store_url)
        await store.open()
        try:
            return await action(store)
        finally:
            await store.close()

    return asyncio.run(run())


def _runs_list(config: configuration.Config, args: argparse.Namespace) -> int:
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

    return _with_store(config, action)


def _runs_show(config: configuration.Config, args: argparse.Namespace) -> int:
    async def action(store: Store) -> int:
        run = await store.get_run(args.run_id)
        if args.json:
            print(json.dumps(as_json(run), indent=2))
        else:
            _print_run(run)
        return 0

    return _with_store(config, action)


def _print_run(run: Run) -> None:
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
