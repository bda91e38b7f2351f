"""``herald delivery``: who receives each email type, changed at run time."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gateway import json_input
from gateway.cli import actor, on_off, with_store
from gateway.config import Config
from gateway.errors import InvalidInput

if TYPE_CHECKING:
    from gateway.cli import Subcommands
    from gateway.content.templating import Templates
    from gateway.store import Store


def register(commands: Subcommands, common: argparse.ArgumentParser) -> None:
    parser = commands.add_parser("delivery", help="who receives each email type")
    actions = parser.add_subparsers(metavar="ACTION", required=True)

    show = actions.add_parser("show", parents=[common], help="every email type's settings")
    show.add_argument("--json", action="store_true", help="print JSON")
    show.set_defaults(command=_show)

    put = actions.add_parser(
        "set", parents=[common], help="change one email type; the next message uses it"
    )
    put.add_argument("email_type", metavar="TYPE")
    put.add_argument("--customers", choices=["on", "off"], help="send to the customer/reseller")
    put.add_argument("--bcc-admin", choices=["on", "off"], help="BCC the admin")
    put.add_argument("--bcc", metavar="ADDR,ADDR", help="more BCC addresses ('' for none)")
    put.add_argument(
        "--ignore-suppressions",
        choices=["on", "off"],
        help="send to suppressed recipients too (herald suppressions)",
    )
    put.set_defaults(command=_set)

    admin = actions.add_parser("admin", parents=[common], help="set the admin's own address")
    admin.add_argument("address", metavar="ADDR")
    admin.set_defaults(command=_admin)

    dry = actions.add_parser(
        "dry-run", parents=[common], help="who would receive an event; sends nothing"
    )
    dry.add_argument("event", metavar="FILE", help="the event as JSON ('-': standard input)")
    dry.add_argument("--json", action="store_true", help="print JSON")
    dry.set_defaults(command=_dry_run)


def _templates(config: Config) -> Templates:
    from gateway.content.templating import Templates

    return Templates(config.templates_dir)


def _show(config: Config, args: argparse.Namespace) -> int:
    from gateway.entrance import delivery

    async def action(store: Store) -> int:
        shown = await delivery.overview(store, config, _templates(config))
        if args.json:
            print(json.dumps(shown, indent=2))
            return 0
        print(f"admin: {shown['admin'] or '(not set)'}")
        print(f"{'TYPE':<24} {'CUSTOMERS':<10} {'BCC ADMIN':<10} {'SOURCE':<14} BCC")
        for row in shown["types"]:
            print(
                f"{row['type']:<24} {_word(row['customers']):<10} {_word(row['bcc_admin']):<10}"
                f" {row['source']:<14} {', '.join(row['bcc']) or '-'}"
            )
        return 0

    return with_store(config, action)


def _word(flag: bool) -> str:
    return "on" if flag else "off"


def _set(config: Config, args: argparse.Namespace) -> int:
    from gateway.entrance import delivery

    changes: dict[str, Any] = {}
    if args.customers is not None:
        changes["customers"] = on_off(args.customers)
    if args.bcc_admin is not None:
        changes["bcc_admin"] = on_off(args.bcc_admin)
    if args.bcc is not None:
        changes["bcc"] = [a.strip() for a in args.bcc.split(",") if a.strip()]
    if args.ignore_suppressions is not None:
        changes["ignore_suppressions"] = on_off(args.ignore_suppressions)

    async def action(store: Store) -> int:
        policy = await delivery.set_type(
            store, config, _templates(config), args.email_type, changes, actor=actor()
        )
        print(
            f"{args.email_type}: customers {_word(policy.customers)},"
            f" bcc admin {_word(policy.bcc_admin)}, bcc {', '.join(policy.bcc) or '-'},"
            f" ignore suppressions {_word(policy.ignore_suppressions)}"
        )
        return 0

    return with_store(config, action)


def _admin(config: Config, args: argparse.Namespace) -> int:
    from gateway.entrance import delivery

    async def action(store: Store) -> int:
        address = await delivery.set_admin(store, args.address, actor=actor())
        print(f"admin: {address}")
        return 0

    return with_store(config, action)


def _dry_run(config: Config, args: argparse.Namespace) -> int:
    from gateway.entrance.pipeline import Pipeline, Services
    from gateway.ingress import events

    try:
        text = sys.stdin.read() if args.event == "-" else Path(args.event).read_text("utf-8")
        # An event, read as the webhook reads one.
        body = json_input.loads(text, allow_nul=True)
    except (OSError, ValueError) as exc:
        raise InvalidInput("event", f"cannot read the event from {args.event}: {exc}") from exc

    async def action(store: Store) -> int:
        services = Services.build(config, store)
        try:
            answer = await events.dry_run(
                Pipeline.build(services), body, mail_from=config.sender.address
            )
        except ValueError as exc:  # InvalidEvent names every bad field
            raise InvalidInput("event", str(exc)) from exc
        if args.json:
            print(json.dumps(answer, indent=2))
            return 0
        reason = f" ({answer['reason']})" if answer["reason"] else ""
        print(f"{answer['email_type']}: {answer['decision']}{reason}")
        for r in answer["recipients"]:
            verdict = "receives" if r["receives"] else f"nothing: {r['suppressed'] or 'not sent'}"
            print(f"  {r['address']:<32} {r['role']:<4} rule={r['rule']}  {verdict}")
        return 0

    return with_store(config, action)
