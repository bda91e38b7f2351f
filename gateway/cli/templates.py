"""``herald tags``, ``herald render``, ``herald templates`` and ``herald send-test``.

All of them act on the store the daemon reads, so a template saved here is
in force for the next message the running daemon composes.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gateway import json_input
from gateway.cli import actor, with_store
from gateway.config import SHIPPED_TEMPLATES, Config
from gateway.errors import InvalidInput

if TYPE_CHECKING:
    from gateway.cli import Subcommands
    from gateway.store import Store, TemplateVersion


def register(commands: Subcommands, common: argparse.ArgumentParser) -> None:
    tags = commands.add_parser(
        "tags", parents=[common], help="the dynamic tags each email type offers"
    )
    tags.add_argument("email_type", metavar="TYPE", nargs="?")
    tags.add_argument("--json", action="store_true", help="print JSON")
    tags.set_defaults(command=_tags)

    render = commands.add_parser(
        "render", parents=[common], help="print the MIME message a template produces"
    )
    render.add_argument("email_type", metavar="TYPE")
    render.add_argument("--data", metavar="FILE.json", help="an event-shaped JSON file")
    render.set_defaults(command=_render)

    send = commands.add_parser(
        "send-test", parents=[common], help="send a template to an address through the upstream"
    )
    send.add_argument("email_type", metavar="TYPE")
    send.add_argument("--to", required=True, metavar="ADDRESS")
    send.add_argument("--data", metavar="FILE.json", help="an event-shaped JSON file")
    send.set_defaults(command=_send_test)

    templates = commands.add_parser("templates", help="edit, version and reset templates")
    actions = templates.add_subparsers(metavar="ACTION", required=True)
    put = actions.add_parser("set", parents=[common], help="validate and save a new version")
    put.add_argument("email_type", metavar="TYPE")
    for part in ("subject", "html", "text"):
        put.add_argument(f"--{part}", metavar="FILE", help=f"the new {part} template")
    put.add_argument("--note", default="", help="a note kept with the version")
    put.set_defaults(command=_set)
    history = actions.add_parser("history", parents=[common], help="every version, newest first")
    history.add_argument("email_type", metavar="TYPE")
    history.set_defaults(command=_history)
    diff = actions.add_parser(
        "diff", parents=[common], help="what a version changed from the one before it"
    )
    diff.add_argument("email_type", metavar="TYPE")
    diff.add_argument("version", metavar="VERSION", type=int)
    diff.add_argument(
        "--against", metavar="VERSION", type=int, help="compare with this version (0: the default)"
    )
    diff.set_defaults(command=_diff)
    rollback = actions.add_parser(
        "rollback", parents=[common], help="bring an earlier version back"
    )
    rollback.add_argument("email_type", metavar="TYPE")
    rollback.add_argument("version", metavar="VERSION", type=int)
    rollback.set_defaults(command=_rollback)
    reset = actions.add_parser("reset", parents=[common], help="go back to the shipped default")
    reset.add_argument("email_type", metavar="TYPE")
    reset.set_defaults(command=_reset)
    show = actions.add_parser("show", parents=[common], help="print the template in force")
    show.add_argument("email_type", metavar="TYPE")
    show.set_defaults(command=_show)


def _tags(config: Config, args: argparse.Namespace) -> int:
    from gateway.content.catalog import Catalog

    catalog = Catalog.load(config.templates_dir, fallback=SHIPPED_TEMPLATES)
    entries = [catalog.get(args.email_type)] if args.email_type else list(catalog.types.values())
    if args.json:
        body: Any = entries[0].as_json() if args.email_type else [e.as_json() for e in entries]
        print(json.dumps(body, indent=2))
        return 0
    for entry in entries:
        print(f"{entry.name}: {entry.description}")
        for tag in entry.tags:
            required = "required" if tag.required else "optional"
            print(f"  {tag.name:<24} {required:<9} {tag.description}")
            print(f"  {'':<24} {'':<9} e.g. {json.dumps(tag.example)}")
        print()
    return 0


def _render(config: Config, args: argparse.Namespace) -> int:
    from gateway.content import mime
    from gateway.content.composer import Composer

    supplied = _read_json(args.data) if args.data else None

    async def action(store: Store) -> int:
        composed = await Composer.for_config(config, store).preview(args.email_type, supplied)
        sys.stdout.write(mime.to_bytes(composed.message).decode("utf-8", "replace"))
        return 0

    return with_store(config, action)


def _send_test(config: Config, args: argparse.Namespace) -> int:
    from gateway.content.composer import Composer
    from gateway.queue import relay

    supplied = _read_json(args.data) if args.data else None

    async def action(store: Store) -> int:
        composer = Composer.for_config(config, store)
        diagnosis = await relay.template_test(store, composer, args.email_type, args.to, supplied)
        said = diagnosis.reply if diagnosis.ok else diagnosis.error
        print(f"{diagnosis.verdict}: {args.to} via {diagnosis.upstream}: {said}")
        return 0 if diagnosis.ok else 1

    return with_store(config, action)


def _set(config: Config, args: argparse.Namespace) -> int:
    from gateway.content.composer import Composer
    from gateway.content.templating import InvalidTemplate

    parts = {
        part: _read_text(getattr(args, part), f"--{part}")
        for part in ("subject", "html", "text")
        if getattr(args, part) is not None
    }

    async def action(store: Store) -> int:
        composer = Composer.for_config(config, store)
        try:
            version = await composer.save(args.email_type, note=args.note, actor=actor(), **parts)
        except InvalidTemplate as exc:
            for pointer, detail in exc.errors:
                detail = _as_given(args, pointer.removeprefix("#/"), detail)
                print(f"herald: {pointer.removeprefix('#/')}: {detail}", file=sys.stderr)
            print(f"herald: nothing was saved for {args.email_type}", file=sys.stderr)
            return 1
        print(f"saved {args.email_type} version {version.version}")
        return 0

    return with_store(config, action)


def _as_given(args: argparse.Namespace, part: str, detail: str) -> str:
    """``detail`` naming the file the user gave rather than the template's own
    name (``bad.html, line 3`` instead of ``body.html, line 3``)."""
    from gateway.content.templating import FILES

    given = getattr(args, part, None) if part in FILES else None
    if given is None:
        return detail
    for name in (f"{args.email_type}/{FILES[part]}", FILES[part]):
        if detail.startswith(name):
            return str(given) + detail[len(name) :]
    return detail


def _history(config: Config, args: argparse.Namespace) -> int:
    from gateway.clock import rfc3339
    from gateway.content.composer import Composer

    async def action(store: Store) -> int:
        versions = await Composer.for_config(config, store).history(args.email_type)
        print(f"{'VERSION':<8} {'SAVED':<24} {'ACTION':<9} {'BY':<20} NOTE")
        for number, version in enumerate(versions):
            marker = " (in force)" if number == 0 and version.parts is not None else ""
            print(
                f"{version.version:<8} {rfc3339(version.created_at):<24} {version.action:<9}"
                f" {version.actor or '-':<20} {version.note}{marker}"
            )
        if not versions or versions[0].parts is None:
            print("the shipped default is in force")
        return 0

    return with_store(config, action)


def _diff(config: Config, args: argparse.Namespace) -> int:
    from gateway.content.composer import Composer

    async def action(store: Store) -> int:
        composer = Composer.for_config(config, store)
        diffs = await composer.compare(args.email_type, args.version, args.against)
        changed = [diff.unified() for diff in diffs if diff.changed]
        sys.stdout.write("".join(changed) if changed else "no changes\n")
        return 0

    return with_store(config, action)


def _rollback(config: Config, args: argparse.Namespace) -> int:
    from gateway.content.composer import Composer

    async def action(store: Store) -> int:
        composer = Composer.for_config(config, store)
        version = await composer.rollback(args.email_type, args.version, actor=actor())
        _done(version)
        return 0

    return with_store(config, action)


def _reset(config: Config, args: argparse.Namespace) -> int:
    from gateway.content.composer import Composer

    async def action(store: Store) -> int:
        version = await Composer.for_config(config, store).reset(args.email_type, actor=actor())
        _done(version)
        return 0

    return with_store(config, action)


def _show(config: Config, args: argparse.Namespace) -> int:
    from gateway.content.composer import Composer

    async def action(store: Store) -> int:
        parts, version = await Composer.for_config(config, store).parts(args.email_type)
        print(f"# {args.email_type}: {f'version {version}' if version else 'shipped default'}")
        for part in ("subject", "html", "text"):
            print(f"## {part}\n{getattr(parts, part).rstrip()}")
        return 0

    return with_store(config, action)


def _done(version: TemplateVersion) -> None:
    print(f"{version.email_type} version {version.version}: {version.note}")


def _read_text(path: str, option: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(option, f"cannot read {path} ({exc})") from exc


def _read_json(path: str) -> Any:
    text = _read_text(path, "--data")
    try:
        return json_input.loads(text)
    except ValueError as exc:
        raise InvalidInput("--data", f"{path} is not valid JSON ({exc})") from exc
