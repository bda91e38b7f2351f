"""``herald definitions``: message definitions, written in TOML."""

from __future__ import annotations

import argparse
import json
import tomllib
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

from gateway.cli import actor, with_store
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
    preview = actions.add_parser(
        "preview", parents=[common], help="the email a customer would get, without sending it"
    )
    preview.add_argument("name", metavar="NAME")
    preview.add_argument("--customer", required=True, metavar="ID")
    preview.add_argument(
        "--batch", type=Path, metavar="DIR", help="a batch folder (else sample invoice data)"
    )
    preview.add_argument("--json", action="store_true", help="print JSON")
    preview.set_defaults(command=_preview)
    send = actions.add_parser(
        "send-test",
        parents=[common],
        help="send a customer's email to an address, through the upstream in force",
    )
    send.add_argument("name", metavar="NAME")
    send.add_argument("--customer", required=True, metavar="ID")
    send.add_argument("--to", required=True, metavar="ADDRESS")
    send.add_argument("--batch", type=Path, metavar="DIR", help="a batch folder")
    send.set_defaults(command=_send_test)
    history = actions.add_parser("history", parents=[common], help="every version, newest first")
    history.add_argument("name", metavar="NAME")
    history.set_defaults(command=_history)
    rollback = actions.add_parser(
        "rollback", parents=[common], help="bring back an earlier version as a new one"
    )
    rollback.add_argument("name", metavar="NAME")
    rollback.add_argument("version", metavar="VERSION", type=int)
    rollback.set_defaults(command=_rollback)


def _apply(config: Config, args: argparse.Namespace) -> int:
    from gateway.billing.definitions import apply
    from gateway.content.composer import Composer

    path: Path = args.file
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InvalidInput("FILE", f"cannot read {str(path)!r}: {exc.strerror}") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InvalidInput("FILE", f"{path} is not valid TOML ({exc})") from exc

    async def action(store: Store) -> int:
        composer = Composer.for_config(config, store)
        definition = await apply(
            store, composer.templates, data, brand=await composer.brand(), actor=actor()
        )
        print(f"definition {definition.name} applied as version {definition.version}")
        return 0

    return with_store(config, action)


def _preview(config: Config, args: argparse.Namespace) -> int:
    from gateway.cli.runs import batches_for
    from gateway.presenters import draft_json

    async def action(store: Store) -> int:
        draft = await batches_for(config, store).draft(args.name, args.customer, args.batch)
        shown = draft_json(draft)
        if args.json:
            print(json.dumps(shown, indent=2))
            return 0
        print(f"From:    {shown['from']}")
        print(f"To:      {shown['to']}")
        print(f"Subject: {shown['subject']}")
        for attachment in shown["attachments"]:
            print(f"Attachment: {attachment['name']} ({attachment['size']} bytes)")
        if not shown["attachments"]:
            print("Attachments: none" + ("" if args.batch else " (give --batch DIR for documents)"))
        for part in shown["parts"]:
            if "content" not in part:
                print(f"Inline:  {part['type']} {part['content_id']} ({part['size']} bytes)")
        text = next((p for p in shown["parts"] if p["type"] == "text/plain"), None)
        if text is not None:
            print()
            print(text["content"].rstrip())
        return 0

    return with_store(config, action)


def _send_test(config: Config, args: argparse.Namespace) -> int:
    from gateway.cli.runs import batches_for

    async def action(store: Store) -> int:
        diagnosis = await batches_for(config, store).send_test(
            store, config, args.name, args.customer, args.to, args.batch
        )
        said = diagnosis.reply if diagnosis.ok else diagnosis.error
        print(f"{diagnosis.verdict}: {args.to} via {diagnosis.upstream}: {said}")
        return 0 if diagnosis.ok else 1

    return with_store(config, action)


def _history(config: Config, args: argparse.Namespace) -> int:
    from gateway.clock import rfc3339

    async def action(store: Store) -> int:
        print(f"{'VERSION':<8} {'ACTION':<9} {'AT':<24} ACTOR")
        for version in await store.definition_versions(args.name):
            print(
                f"{version.version:<8} {version.action:<9} {rfc3339(version.created_at):<24}"
                f" {version.actor or '-'}"
            )
        return 0

    return with_store(config, action)


def _rollback(config: Config, args: argparse.Namespace) -> int:
    from gateway.billing.definitions import rollback
    from gateway.content.composer import Composer

    async def action(store: Store) -> int:
        composer = Composer.for_config(config, store)
        definition = await rollback(
            store,
            composer.templates,
            args.name,
            args.version,
            brand=await composer.brand(),
            actor=actor(),
        )
        print(
            f"definition {args.name} rolled back to version {args.version}"
            f" (now version {definition.version})"
        )
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
