"""``herald serve`` and ``herald check``."""

from __future__ import annotations

import argparse
import asyncio
from typing import TYPE_CHECKING

from gateway import logs, pipeline
from gateway.catalog import Catalog
from gateway.config import SHIPPED_TEMPLATES, Config
from gateway.store import redact_url

if TYPE_CHECKING:
    from gateway.cli import Subcommands


def register(commands: Subcommands, common: argparse.ArgumentParser) -> None:
    serve = commands.add_parser("serve", parents=[common], help="run the gateway")
    serve.add_argument("--log-level", default="info", choices=["debug", "info", "warning"])
    serve.set_defaults(command=_serve)

    check = commands.add_parser(
        "check", parents=[common], help="validate the configuration and print the pipeline"
    )
    check.set_defaults(command=_check)


def _serve(config: Config, args: argparse.Namespace) -> int:
    from gateway.daemon import serve

    logs.configure(level=args.log_level)
    asyncio.run(serve(config))
    return 0


def _check(config: Config, args: argparse.Namespace) -> int:
    factories = pipeline.resolve(config.stages)
    catalog = Catalog.load(config.templates_dir, fallback=SHIPPED_TEMPLATES)
    print(f"configuration: {config.source or 'built-in defaults'}")
    print(f"smtp listener: {config.smtp_listen}")
    print(f"http listener: {config.http_listen}")
    print(f"store:         {redact_url(config.store_url)}")
    print(f"upstream:      {config.upstream or f'none: capture to Maildir {config.capture_dir}'}")
    print("               (settings saved at run time win: herald smtp show)")
    print(f"templates:     {config.templates_dir} (tags for {len(catalog.types)} email types)")
    print("pipeline:")
    for number, factory in enumerate(factories, 1):
        print(f"  {number}. {factory.name:<18} {factory.description}")
    print("  then (always): record the run, queue, relay upstream")
    return 0
