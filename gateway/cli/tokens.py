"""``herald tokens``: admin API tokens and their scopes."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from gateway.cli import actor, with_store
from gateway.config import Config

if TYPE_CHECKING:
    from gateway.cli import Subcommands
    from gateway.store import Store


def register(commands: Subcommands, common: argparse.ArgumentParser) -> None:
    from gateway.settings import tokens

    group = commands.add_parser("tokens", help="admin API tokens and their scopes")
    actions = group.add_subparsers(metavar="ACTION", required=True)
    create = actions.add_parser(
        "create", parents=[common], help="make a token; it is printed once, never stored"
    )
    create.add_argument("name", metavar="NAME")
    create.add_argument(
        "--scope",
        action="append",
        required=True,
        choices=[*tokens.SCOPES, "all"],
        help="what the token may do (repeatable): "
        + "; ".join(f"{name}: {text}" for name, text in tokens.SCOPES.items()),
    )
    create.set_defaults(command=_create)
    listing = actions.add_parser("list", parents=[common], help="every token, never a secret")
    listing.set_defaults(command=_list)
    revoke = actions.add_parser("revoke", parents=[common], help="revoke a token by name or id")
    revoke.add_argument("name", metavar="NAME_OR_ID")
    revoke.set_defaults(command=_revoke)


def _create(config: Config, args: argparse.Namespace) -> int:
    from gateway.settings import tokens

    scopes = tokens.ALL_SCOPES if "all" in args.scope else args.scope
    record, secret = tokens.new_token(args.name, scopes)

    async def action(store: Store) -> int:
        await store.add_admin_token(record, tokens.digest(secret), actor=actor())
        print(f"token {record.name} ({record.id}): {' '.join(record.scopes)}")
        print(f"secret (shown once): {secret}")
        return 0

    return with_store(config, action)


def _list(config: Config, args: argparse.Namespace) -> int:
    from gateway.clock import rfc3339

    async def action(store: Store) -> int:
        records = await store.list_admin_tokens()
        for record in records:
            state = f"revoked {rfc3339(record.revoked_at)}" if record.revoked_at else "live"
            used = rfc3339(record.last_used_at) if record.last_used_at else "never used"
            scopes = " ".join(record.scopes)
            print(f"{record.id:<24} {record.name:<20} {state:<34} {used:<24} {scopes}")
        if not records:
            print("(no tokens besides the admin token)")
        return 0

    return with_store(config, action)


def _revoke(config: Config, args: argparse.Namespace) -> int:
    async def action(store: Store) -> int:
        record = await store.revoke_admin_token(args.name, actor=actor())
        print(f"token {record.name} ({record.id}): revoked")
        return 0

    return with_store(config, action)
