"""``herald users``: the people who sign in to the console, and their roles."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from gateway.cli import actor, with_store
from gateway.config import Config
from gateway.errors import InvalidInput

if TYPE_CHECKING:
    from gateway.cli import Subcommands
    from gateway.store import Store


def register(commands: Subcommands, common: argparse.ArgumentParser) -> None:
    from gateway.settings import users

    roles = "; ".join(f"{name}: {text}" for name, text in users.ROLE_TEXT.items())
    group = commands.add_parser("users", help="console users and their roles")
    actions = group.add_subparsers(metavar="ACTION", required=True)
    add = actions.add_parser("add", parents=[common], help="make a console user")
    add.add_argument("name", metavar="NAME")
    add.add_argument("--email", required=True, metavar="ADDRESS", help="the user's own address")
    add.add_argument("--role", required=True, choices=list(users.ROLES), help=roles)
    add.add_argument(
        "--password-file",
        required=True,
        metavar="FILE",
        help="a file whose first line is the password ('-': standard input)",
    )
    add.set_defaults(command=_add)
    listing = actions.add_parser("list", parents=[common], help="every user, never a password")
    listing.set_defaults(command=_list)
    disable = actions.add_parser(
        "disable", parents=[common], help="stop a user signing in; ends their sessions"
    )
    disable.add_argument("name", metavar="NAME")
    disable.set_defaults(command=_disable, off=True)
    enable = actions.add_parser("enable", parents=[common], help="let a disabled user sign in")
    enable.add_argument("name", metavar="NAME")
    enable.set_defaults(command=_disable, off=False)
    role = actions.add_parser("set-role", parents=[common], help="change a user's role")
    role.add_argument("name", metavar="NAME")
    role.add_argument("role", metavar="ROLE", choices=list(users.ROLES), help=roles)
    role.set_defaults(command=_set_role)
    reset = actions.add_parser(
        "reset-password", parents=[common], help="set a new password; ends the user's sessions"
    )
    reset.add_argument("name", metavar="NAME")
    reset.add_argument("--password-file", required=True, metavar="FILE")
    reset.set_defaults(command=_reset_password)


def _password(source: str) -> str:
    """The first line of ``source`` (a file, or '-' for standard input)."""
    if source == "-":
        return sys.stdin.readline().rstrip("\r\n")
    try:
        text = Path(source).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise InvalidInput("--password-file", f"cannot read {source}: {reason}") from None
    return text.splitlines()[0] if text else ""


def _add(config: Config, args: argparse.Namespace) -> int:
    from gateway.settings import users

    user = users.new_user(args.name, args.email, args.role, _password(args.password_file))

    async def action(store: Store) -> int:
        await store.add_console_user(user, actor=actor())
        print(f"user {user.name} <{user.email}>: {user.role}")
        return 0

    return with_store(config, action)


def _list(config: Config, args: argparse.Namespace) -> int:
    from gateway.clock import rfc3339

    async def action(store: Store) -> int:
        found = await store.list_console_users()
        for user in found:
            state = f"disabled {rfc3339(user.disabled_at)}" if user.disabled_at else "active"
            totp = "totp" if user.totp_sealed else "password"
            print(f"{user.name:<20} {user.role:<10} {state:<32} {totp:<9} {user.email}")
        if not found:
            print("(no users; make the first admin with: herald users add NAME --role admin ...)")
        return 0

    return with_store(config, action)


def _disable(config: Config, args: argparse.Namespace) -> int:
    from gateway.settings import users

    async def action(store: Store) -> int:
        user = await store.get_console_user(args.name)
        await store.update_console_user(users.disabled(user, args.off), actor=actor())
        print(f"user {user.name}: {'disabled' if args.off else 'enabled'}")
        return 0

    return with_store(config, action)


def _set_role(config: Config, args: argparse.Namespace) -> int:
    import dataclasses

    async def action(store: Store) -> int:
        user = await store.get_console_user(args.name)
        await store.update_console_user(dataclasses.replace(user, role=args.role), actor=actor())
        print(f"user {user.name}: {args.role}")
        return 0

    return with_store(config, action)


def _reset_password(config: Config, args: argparse.Namespace) -> int:
    from gateway.settings import users

    password = _password(args.password_file)

    async def action(store: Store) -> int:
        user = await store.get_console_user(args.name)
        await store.update_console_user(users.with_password(user, password), actor=actor())
        print(f"user {user.name}: password changed; their sessions are ended")
        return 0

    return with_store(config, action)
