"""``herald smtp-users``: logins for SMTP clients outside the allowed networks."""

from __future__ import annotations

import argparse
import secrets
import sys
from typing import TYPE_CHECKING

from gateway.cli import actor, with_store
from gateway.config import Config

if TYPE_CHECKING:
    from gateway.cli import Subcommands
    from gateway.store import Store


def register(commands: Subcommands, common: argparse.ArgumentParser) -> None:
    users = commands.add_parser("smtp-users", help="SMTP AUTH logins")
    actions = users.add_subparsers(metavar="ACTION", required=True)
    add = actions.add_parser(
        "add",
        parents=[common],
        help="create or replace a login; prints a new password unless --password-stdin",
    )
    add.add_argument("name", metavar="NAME")
    add.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )
    add.add_argument(
        "--sender-domain",
        action="append",
        default=[],
        metavar="DOMAIN",
        help="only send from this domain (repeatable; default any)",
    )
    add.add_argument(
        "--recipient-domain",
        action="append",
        default=[],
        metavar="DOMAIN",
        help="only relay to this domain (repeatable; default any)",
    )
    add.set_defaults(command=_add)
    listing = actions.add_parser("list", parents=[common], help="every login, no passwords")
    listing.set_defaults(command=_list)
    remove = actions.add_parser("remove", parents=[common], help="delete a login")
    remove.add_argument("name", metavar="NAME")
    remove.set_defaults(command=_remove)


def _add(config: Config, args: argparse.Namespace) -> int:
    from gateway.settings.smtp_users import save, smtp_user

    generated = not args.password_stdin
    password = secrets.token_urlsafe(18) if generated else sys.stdin.readline().rstrip("\r\n")
    user = smtp_user(args.name, password, args.sender_domain, args.recipient_domain)

    async def action(store: Store) -> int:
        await save(store, user, actor=actor())
        print(f"smtp user {user.name}: saved")
        if generated:
            # Shown once: Herald keeps only its scrypt hash.
            print(f"password: {password}")
        return 0

    return with_store(config, action)


def _list(config: Config, args: argparse.Namespace) -> int:
    async def action(store: Store) -> int:
        users = await store.list_smtp_users()
        for user in users:
            senders = " ".join(user.sender_domains) or "*"
            recipients = " ".join(user.recipient_domains) or "*"
            print(f"{user.name:<24} from: {senders:<30} to: {recipients}")
        if not users:
            print("(no SMTP users)")
        return 0

    return with_store(config, action)


def _remove(config: Config, args: argparse.Namespace) -> int:
    from gateway.settings.smtp_users import remove

    async def action(store: Store) -> int:
        await remove(store, args.name, actor=actor())
        print(f"smtp user {args.name}: removed")
        return 0

    return with_store(config, action)
