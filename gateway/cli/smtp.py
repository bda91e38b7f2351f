"""``herald smtp``: how Herald reaches the mail server, changed at run time."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gateway.cli import actor, on_off, with_store
from gateway.config import Config, describe_upstream
from gateway.errors import InvalidInput

if TYPE_CHECKING:
    from gateway.cli import Subcommands
    from gateway.store import Store


def register(commands: Subcommands, common: argparse.ArgumentParser) -> None:
    smtp = commands.add_parser("smtp", help="the upstream SMTP settings")
    actions = smtp.add_subparsers(metavar="ACTION", required=True)
    which = argparse.ArgumentParser(add_help=False)
    which.add_argument("--sender", metavar="KEY", help="the own upstream of this sender")

    show = actions.add_parser("show", parents=[common, which], help="the settings in force")
    show.add_argument("--json", action="store_true", help="print JSON")
    show.set_defaults(command=_show)

    put = actions.add_parser(
        "set", parents=[common, which], help="change settings; the next message uses them"
    )
    _setting_options(put)
    put.set_defaults(command=_set)

    reset = actions.add_parser(
        "reset", parents=[common, which], help="forget the saved settings (back to the default)"
    )
    reset.set_defaults(command=_reset)

    test = actions.add_parser(
        "test", parents=[common], help="send a test message and say what happened"
    )
    test.add_argument("--from", dest="mail_from", required=True, metavar="ADDR")
    test.add_argument("--to", required=True, metavar="ADDR")
    test.add_argument("--subject", default="Herald test message")
    test.add_argument("--text", default="This is a test message from Herald.")
    _setting_options(test)
    test.set_defaults(command=_test)


def _setting_options(parser: argparse.ArgumentParser) -> None:
    from gateway.settings import smtp as smtp_settings

    parser.add_argument("--host", metavar="H")
    parser.add_argument("--port", metavar="P")
    parser.add_argument("--security", choices=smtp_settings.SECURITY)
    parser.add_argument("--verify", choices=["on", "off"], help="verify the certificate")
    parser.add_argument("--ca-file", metavar="F", help="trust these CAs ('' for the system's)")
    parser.add_argument("--timeout", metavar="SECONDS", help="for each command")
    parser.add_argument(
        "--connect-timeout", metavar="SECONDS", help="to connect and be greeted ('': as --timeout)"
    )
    auth = parser.add_mutually_exclusive_group()
    auth.add_argument("--login", metavar="U")
    auth.add_argument("--no-auth", action="store_true", help="log in no more")
    parser.add_argument(
        "--password-file", metavar="F", help="read the password from F ('-': standard input)"
    )


def _changes(args: argparse.Namespace) -> dict[str, Any]:
    """The settings the options name, for ``smtp_settings.apply``."""
    changes: dict[str, Any] = {}
    for name in ("host", "port", "security", "ca_file", "timeout", "connect_timeout", "login"):
        if getattr(args, name) is not None:
            changes[name] = getattr(args, name)
    if args.verify is not None:
        changes["verify"] = on_off(args.verify)
    if args.no_auth:
        changes["auth"] = False
    if args.password_file is not None:
        changes["password"] = _password(args.password_file)
    return changes


def _password(path: str) -> str:
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput("#/password", f"cannot read {path}: {exc}") from exc
    return text.rstrip("\r\n")


def _key(args: argparse.Namespace) -> str:
    from gateway.settings import smtp as smtp_settings

    if args.sender:
        return smtp_settings.sender_setting(args.sender)
    return smtp_settings.SETTING


def _show(config: Config, args: argparse.Namespace) -> int:
    from gateway.settings import smtp as smtp_settings

    async def action(store: Store) -> int:
        key = _key(args)
        if args.sender:
            await store.get_sender(args.sender)
        saved = await store.read_settings(key)
        if key in saved:
            shown = smtp_settings.public(saved[key], "saved")
        elif args.sender:
            shown = smtp_settings.public(None, "none")
        else:
            shown = smtp_settings.public(*smtp_settings.chosen(saved, config, []))
        if args.json:
            print(json.dumps(shown, indent=2))
        else:
            _print(shown, config)
        return 0

    return with_store(config, action)


def _print(shown: dict[str, Any], config: Config) -> None:
    source = {
        "saved": "saved in the store",
        "configuration": "the configuration (HERALD_UPSTREAM or [upstream])",
        "none": "nothing set",
    }[shown["source"]]
    print(f"source:    {source}")
    if shown["host"] is None:
        print(f"upstream:  none (mail is captured to {config.upstream.capture_dir})")
        return
    auth = "off"
    if shown["auth"]:
        password = "set" if shown["password_set"] else "not set"
        auth = f"on (login {shown['login']}, password {password})"
    named = describe_upstream(shown["security"], shown["host"], shown["port"], shown["login"])
    print(f"upstream:  {named}")
    print(f"host:      {shown['host']}")
    print(f"port:      {shown['port']}")
    print(f"security:  {shown['security']}")
    print(f"verify:    {'on' if shown['verify'] else 'off'}")
    print(f"ca file:   {shown['ca_file'] or '(the system CAs)'}")
    print(f"auth:      {auth}")
    connect = shown["connect_timeout"] or shown["timeout"]
    print(f"timeouts:  {shown['timeout']:g}s per command, {connect:g}s to connect")


def _set(config: Config, args: argparse.Namespace) -> int:
    from gateway.settings import smtp as smtp_settings

    changes = _changes(args)
    vault = smtp_settings.vault_for(config)

    async def action(store: Store) -> int:
        key = _key(args)
        if args.sender:
            await store.get_sender(args.sender)
        base = await smtp_settings.editable(store, config, vault, key)
        value = smtp_settings.apply(base, changes, vault)
        await smtp_settings.save(store, key, value, actor=actor())
        print(f"saved: {smtp_settings.describe(value)}; the next message uses it")
        return 0

    return with_store(config, action)


def _reset(config: Config, args: argparse.Namespace) -> int:
    from gateway.settings import smtp as smtp_settings

    async def action(store: Store) -> int:
        if args.sender:
            await store.get_sender(args.sender)
        await smtp_settings.save(store, _key(args), None, actor=actor())
        print("saved settings removed")
        return 0

    return with_store(config, action)


def _test(config: Config, args: argparse.Namespace) -> int:
    from gateway.queue import relay

    changes = _changes(args)

    async def action(store: Store) -> int:
        diagnosis = await relay.smtp_test(
            store,
            config,
            mail_from=args.mail_from,
            to=args.to,
            subject=args.subject,
            text=args.text,
            proposed=changes,
        )
        print(f"{diagnosis.outcome}: {diagnosis.detail}")
        print(f"upstream: {diagnosis.upstream}")
        return 0 if diagnosis.ok else 1

    return with_store(config, action)
