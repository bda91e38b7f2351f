"""``herald definitions``: message definitions, written in TOML."""

from __future__ import annotations

import argparse
import json
import tomllib
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
    definitions = commands.add_parser("definitions", help="message definitions")
    actions = definitions.add_subparsers(metavar="ACTION", required=True)
    listing = actions.add_parser("list", parents=[common], help="every definition")
    listing.set_defaults(command=_list)
    show = actions.add_parser("show", parents=[common], help="one definition as JSON")
    show.add_argument("name", metavar="NAME")
    show.set_defaults(command=_show)
    put = actions.add_parser(
        "apply", parents=[common], help="create or replace a definition from a TOML file"
    )
    put.add_argument("file", metavar="FILE.toml", type=Path)
    put.set_defaults(command=_apply)


def _apply(config: Config, args: argparse.Namespace) -> int:
    from gateway.billing.definitions import apply
    from gateway.content.templating import Templates

    path: Path = args.file
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InvalidInput("FILE", f"cannot read {str(path)!r}: {exc.strerror}") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InvalidInput("FILE", f"{path} is not valid TOML ({exc})") from exc
    templates = Templates(config.templates_dir)

    async def action(store: Store) -> int:
        definition = await apply(store, templates, data)
        print(f"definition {definition.name} applied")
        return 0

    return with_store(config, action)


def _list(config: Config, args: argparse.Namespace) -> int:
    async def action(store: Store) -> int:
        print(f"{'NAME':<24} {'FROM':<14} {'TO':<12} {'CLUSTERS':<24} SCHEDULE")
        for d in await store.list_definitions():
            schedule = f"{d.schedule.cron} ({d.schedule.timezone})" if d.schedule else "-"
            print(
                f"{d.name:<24} {d.from_key:<14} {d.recipient_key:<12}"
                f" {','.join(d.clusters):<24} {schedule}"
            )
        return 0

    return with_store(config, action)


def _show(config: Config, args: argparse.Namespace) -> int:
    async def action(store: Store) -> int:
        print(json.dumps(asdict(await store.get_definition(args.name)), indent=2))
        return 0

    return with_store(config, action)
