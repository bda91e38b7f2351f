"""The ``herald`` command. Each module here adds one family of subcommands.

A command is a function ``(config, args) -> exit status``. Commands that read
or change settings act on the store the daemon uses (``-c FILE`` or
``HERALD_STORE``), so they work whether or not the daemon is running.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import sys
from collections.abc import Callable, Coroutine, Sequence
from typing import TYPE_CHECKING, Any

from gateway import __version__
from gateway import config as configuration
from gateway.errors import GatewayError

if TYPE_CHECKING:
    from gateway.store import Store

    # argparse names no public type for what add_subparsers returns.
    Subcommands = argparse._SubParsersAction[argparse.ArgumentParser]


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "command"):
        parser.print_help()
        return 2
    # Each command imports what it needs when it runs, so ``herald --help``
    # and the read-only commands start without loading the whole daemon.
    from gateway import logs

    # A command's own output is its stdout; only warnings are logged (to
    # stderr): the daemon's events would be noise. ``herald serve``
    # configures its logs again before it starts.
    logs.configure(level="warning")
    try:
        config = configuration.load(args.config)
        result: int = args.command(config, args)
        sys.stdout.flush()
        return result
    except GatewayError as exc:
        print(f"herald: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (``herald runs list | head``): stop quietly,
        # and point stdout at nothing so the interpreter's final flush
        # cannot raise again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141


def build_parser() -> argparse.ArgumentParser:
    from gateway.cli import (
        audit,
        brand,
        config,
        customers,
        definitions,
        delivery,
        dkim,
        queue,
        runs,
        senders,
        serve,
        smtp,
        smtp_users,
        store,
        suppressions,
        templates,
        tokens,
        users,
    )

    parser = argparse.ArgumentParser(prog="herald", description="Herald email gateway")
    parser.add_argument("--version", action="version", version=f"herald {__version__}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "-c", "--config", metavar="FILE", help="configuration file (default: $HERALD_CONFIG)"
    )
    commands = parser.add_subparsers(metavar="COMMAND")
    for module in (
        serve,
        config,
        runs,
        queue,
        senders,
        smtp,
        delivery,
        audit,
        store,
        suppressions,
        dkim,
        templates,
        brand,
        customers,
        definitions,
        smtp_users,
        tokens,
        users,
    ):
        module.register(commands, common)
    return parser


def actor() -> str:
    """Who the audit log names for a change made with the CLI."""
    return f"cli:{getpass.getuser()}"


def on_off(text: str) -> bool:
    return text == "on"


def with_store(
    config: configuration.Config, action: Callable[[Store], Coroutine[Any, Any, int]]
) -> int:
    """Open the configured store, run ``action`` on it, close it."""

    from gateway.store import open_store

    async def run() -> int:
        store = open_store(config.store_url, max_bytes=config.store_max_bytes)
        await store.open()
        try:
            return await action(store)
        finally:
            await store.close()

    return asyncio.run(run())
