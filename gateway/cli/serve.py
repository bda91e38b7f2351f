"""``herald serve`` and ``herald check``."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from gateway.config import SHIPPED_TEMPLATES, Config
from gateway.errors import ConfigError

if TYPE_CHECKING:
    from gateway.cli import Subcommands
    from gateway.content.catalog import Catalog


def register(commands: Subcommands, common: argparse.ArgumentParser) -> None:
    serve = commands.add_parser("serve", parents=[common], help="run the gateway")
    serve.add_argument("--log-level", default="info", choices=["debug", "info", "warning"])
    serve.set_defaults(command=_serve)

    check = commands.add_parser(
        "check", parents=[common], help="validate the configuration and print the pipeline"
    )
    check.set_defaults(command=_check)


def _serve(config: Config, args: argparse.Namespace) -> int:
    from gateway import logs
    from gateway.daemon import serve

    logs.configure(level=args.log_level)
    with asyncio.Runner(loop_factory=_loop_factory(config.event_loop)) as runner:
        runner.run(serve(config))
    return 0


def _loop_factory(choice: str) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's loop when ``[server] event_loop`` asks for it, or leaves the
    choice to Herald ("auto") and uvloop is installed; asyncio's otherwise."""
    if choice == "asyncio":
        return None
    try:
        # Optional: Herald runs on asyncio's loop without it.
        import uvloop
    except ImportError as exc:
        if choice == "uvloop":
            raise ConfigError(
                "[server] event_loop = uvloop, but uvloop is not installed"
                " (pip install 'herald-gateway[uvloop]')"
            ) from exc
        return None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


def _check(config: Config, args: argparse.Namespace) -> int:
    from gateway.content.catalog import Catalog
    from gateway.entrance import pipeline
    from gateway.store import redact_url

    factories = pipeline.resolve(config.stages)
    catalog = Catalog.load(config.templates_dir, fallback=SHIPPED_TEMPLATES)
    print(f"configuration: {config.source or 'built-in defaults'}")
    print(f"smtp listener: {config.smtp.listen}")
    print(f"http listener: {config.http_listen}")
    print(f"store:         {redact_url(config.store_url)}")
    upstream = config.upstream
    print(f"upstream:      {upstream.server or f'none: capture to Maildir {upstream.capture_dir}'}")
    print("               (settings saved at run time win: herald smtp show)")
    print(f"templates:     {config.templates_dir} (tags for {len(catalog.types)} email types)")
    print("pipeline:")
    for number, factory in enumerate(factories, 1):
        print(f"  {number}. {factory.name:<18} {factory.description}")
    print("  then (always): record the run, queue, relay upstream")
    problems = [*_template_problems(config, catalog), *_store_problems(config)]
    for problem in problems:
        print(f"herald: {problem}", file=sys.stderr)
    return 1 if problems else 0


def _template_problems(config: Config, catalog: Catalog) -> Iterator[str]:
    """Each reason, one line apiece, that ``herald serve`` would refuse events
    for: no templates folder, no email type in it, no tag catalog, a type the
    catalog does not describe, a template that does not compile or render."""
    from gateway.content.catalog import CATALOG_FILE
    from gateway.content.templating import FILES, Templates
    from gateway.errors import GatewayError

    folder = config.templates_dir
    setting = "[templates] dir"
    if not folder.is_dir():
        yield f"templates: the folder {folder} does not exist ({setting})"
        return
    templates = Templates(folder)
    types = [name for name in templates.types() if templates.has(name)]
    if not types:
        yield f"templates: {folder} holds no email type (a folder with {FILES['subject']})"
    if not any((where / CATALOG_FILE).is_file() for where in (folder, SHIPPED_TEMPLATES)):
        yield f"templates: no tag catalog ({folder / CATALOG_FILE})"
        return
    for name in types:
        entry = catalog.types.get(name)
        if entry is None:
            yield f"templates: {name} is not described in the tag catalog {CATALOG_FILE}"
            continue
        try:
            templates.check(entry, templates.shipped(name))
        except GatewayError as exc:
            yield f"templates: {name}: {exc}"
    for name in config.brand_layout:
        if name not in catalog.types:
            yield f"templates: [templates] brand_layout names {name!r}, which the catalog lacks"


def _store_problems(config: Config) -> Iterator[str]:
    """The store's trouble, if it cannot be opened (``herald serve`` would not
    start). A SQLite file not made yet is left for ``herald serve`` to make,
    so that a check run by another user creates nothing."""
    from gateway.errors import GatewayError
    from gateway.store import open_store, sqlite_path

    path = sqlite_path(config.store_url)
    if path is not None and not Path(path).exists():
        return

    async def probe() -> None:
        store = open_store(config.store_url, max_bytes=config.store_max_bytes)
        await store.open()
        await store.close()

    try:
        asyncio.run(probe())
    except (GatewayError, OSError) as exc:
        yield f"store: {exc}"
