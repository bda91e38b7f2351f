"""``herald config``: the files an operator installs, as Herald ships them."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from gateway.config import Config, shipped_file

if TYPE_CHECKING:
    from gateway.cli import Subcommands

FILES = {
    "example": ("etc/herald.toml", "the commented configuration file, every key explained"),
    "unit": ("systemd/herald.service", "the systemd unit, sandboxed, Type=notify"),
}


def register(commands: Subcommands, common: argparse.ArgumentParser) -> None:
    group = commands.add_parser("config", help="print the example configuration or systemd unit")
    actions = group.add_subparsers(metavar="FILE", required=True)
    for name, (path, help_text) in FILES.items():
        action = actions.add_parser(name, parents=[common], help=f"print {help_text}")
        action.set_defaults(command=_print, shipped=path)


def _print(config: Config, args: argparse.Namespace) -> int:
    print(shipped_file(args.shipped), end="")
    return 0
