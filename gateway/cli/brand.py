"""``herald brand``: the brand every email wears, saved over the [brand] configuration."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gateway import json_input
from gateway.cli import actor, with_store
from gateway.config import Config
from gateway.errors import InvalidInput

if TYPE_CHECKING:
    from gateway.cli import Subcommands
    from gateway.store import Store


def register(commands: Subcommands, common: argparse.ArgumentParser) -> None:
    brand = commands.add_parser("brand", help="show and change the brand")
    actions = brand.add_subparsers(metavar="ACTION", required=True)
    show = actions.add_parser("show", parents=[common], help="the brand in force")
    show.add_argument("--json", action="store_true", help="print JSON")
    show.set_defaults(command=_show)
    put = actions.add_parser("set", parents=[common], help="save one brand setting")
    put.add_argument("key", metavar="KEY", help="e.g. name, primary_color, footer, links")
    put.add_argument("value", metavar="VALUE", help="the value; links take a JSON list")
    put.set_defaults(command=_set)
    logo = actions.add_parser(
        "logo", parents=[common], help="save an image as the logo, sent inline in every email"
    )
    logo.add_argument("file", metavar="FILE", help="a PNG, JPEG, GIF or WebP image")
    logo.set_defaults(command=_logo)
    unset = actions.add_parser(
        "unset", parents=[common], help="forget a saved setting (the configured one applies)"
    )
    unset.add_argument("key", metavar="KEY", help="a setting, or logo")
    unset.set_defaults(command=_unset)


def _show(config: Config, args: argparse.Namespace) -> int:
    from gateway.content.composer import Composer

    async def action(store: Store) -> int:
        _print(await Composer.for_config(config, store).brand(), as_json=args.json)
        return 0

    return with_store(config, action)


def _set(config: Config, args: argparse.Namespace) -> int:
    value: Any = args.value
    if args.key == "links":
        try:
            value = json_input.loads(args.value)
        except ValueError as exc:
            raise InvalidInput("links", f"expected a JSON list ({exc})") from exc
    return _update(config, {args.key: value})


def _logo(config: Config, args: argparse.Namespace) -> int:
    from gateway.content.composer import Composer

    try:
        data = Path(args.file).read_bytes()
    except OSError as exc:
        raise InvalidInput("FILE", f"cannot read {args.file} ({exc.strerror or exc})") from exc

    async def action(store: Store) -> int:
        composer = Composer.for_config(config, store)
        _print(await composer.update_logo(data, Path(args.file).name, actor=actor()), as_json=False)
        return 0

    return with_store(config, action)


def _unset(config: Config, args: argparse.Namespace) -> int:
    from gateway.content.composer import Composer

    if args.key == "logo":

        async def forget_logo(store: Store) -> int:
            _print(
                await Composer.for_config(config, store).update_logo(None, actor=actor()),
                as_json=False,
            )
            return 0

        return with_store(config, forget_logo)
    return _update(config, {args.key: None})


def _update(config: Config, changes: dict[str, Any]) -> int:
    from gateway.content.composer import Composer

    async def action(store: Store) -> int:
        _print(
            await Composer.for_config(config, store).update_brand(changes, actor=actor()),
            as_json=False,
        )
        return 0

    return with_store(config, action)


def _print(values: dict[str, Any], *, as_json: bool) -> None:
    if as_json:
        print(json.dumps(values, indent=2))
        return
    for key, value in values.items():
        shown = json.dumps(value) if not isinstance(value, str) else value
        print(f"{key:<17} {shown}")
