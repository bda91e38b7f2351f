"""``herald runs``: what was sent, to whom, when, and every error; and
definition runs, started, followed, retried and cancelled from here."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from gateway.cli import actor, with_store
from gateway.config import Config
from gateway.errors import InvalidInput

if TYPE_CHECKING:
    from gateway.billing.batches import Batches
    from gateway.cli import Subcommands
    from gateway.store import Run, Store


def register(commands: Subcommands, common: argparse.ArgumentParser) -> None:
    runs = commands.add_parser("runs", help="list and show message runs")
    actions = runs.add_subparsers(metavar="ACTION", required=True)
    listing = actions.add_parser("list", parents=[common], help="newest runs first")
    listing.add_argument("--status", help="only runs with this status")
    listing.add_argument("--type", dest="email_type", help="only runs of this email type")
    listing.add_argument(
        "--query",
        default="",
        metavar="Q",
        help="only runs matching the query, as the console's box takes it"
        " (to:ADDRESS status:S type:T definition:D after:DATE before:DATE)",
    )
    listing.add_argument("--limit", type=int, default=20)
    listing.add_argument("--json", action="store_true", help="print JSON lines")
    listing.set_defaults(command=_list)
    show = actions.add_parser("show", parents=[common], help="one run with its recipients")
    show.add_argument("run_id", metavar="ID")
    show.add_argument("--json", action="store_true", help="print JSON")
    show.add_argument("--status", dest="item_status", help="only recipients with this status")
    show.add_argument(
        "--items", type=int, default=200, help="at most this many recipients (default 200)"
    )
    show.set_defaults(command=_show)

    start = actions.add_parser(
        "start", parents=[common], help="run a message definition for a batch of invoices"
    )
    start.add_argument("definition", metavar="DEFINITION")
    start.add_argument("--batch", required=True, metavar="ID", help="the batch id (once only)")
    start.add_argument(
        "--invoices",
        required=True,
        type=Path,
        metavar="DIR",
        help="one folder per customer id with its documents and data.json",
    )
    start.set_defaults(command=_start)
    watch = actions.add_parser("watch", parents=[common], help="follow a run until it is done")
    watch.add_argument("run_id", metavar="ID")
    watch.add_argument("--interval", type=float, default=1.0, help="seconds between updates")
    watch.set_defaults(command=_watch)
    retry = actions.add_parser("retry", parents=[common], help="send a run's failed items again")
    retry.add_argument("run_id", metavar="ID")
    retry.set_defaults(command=_retry)
    cancel = actions.add_parser("cancel", parents=[common], help="stop a run; nothing more is sent")
    cancel.add_argument("run_id", metavar="ID")
    cancel.set_defaults(command=_cancel)
    resend = actions.add_parser("resend", parents=[common], help="send one item of a run again")
    resend.add_argument("run_id", metavar="ID")
    resend.add_argument("item_id", metavar="ITEM", type=int)
    resend.set_defaults(command=_resend)


def _list(config: Config, args: argparse.Namespace) -> int:
    from gateway.clock import rfc3339
    from gateway.presenters import run_json
    from gateway.store import RUN_STATUSES, check_status, run_filter

    check_status(args.status, RUN_STATUSES, "--status")
    if args.limit < 1:
        raise InvalidInput("--limit", "must be a whole number of at least 1")
    where = run_filter.parse_query(args.query, field="--query")

    async def action(store: Store) -> int:
        page = await store.list_runs(
            status=args.status, email_type=args.email_type, where=where, limit=args.limit
        )
        if args.json:
            for run in page.runs:
                print(json.dumps(run_json(run)))
            return 0
        print(f"{'RUN':<28} {'CREATED':<24} {'STATUS':<9} {'TYPE':<22} SUBJECT")
        for run in page.runs:
            print(
                f"{run.id:<28} {rfc3339(run.created_at):<24} {run.status:<9}"
                f" {run.email_type:<22} {cut(_about(run), 60)}"
            )
        if not page.runs:
            print("(no runs)")
        elif page.next_cursor:
            print(f"(more runs than these {len(page.runs)}: raise --limit to see more)")
        return 0

    return with_store(config, action)


def _show(config: Config, args: argparse.Namespace) -> int:
    from gateway.presenters import run_json
    from gateway.store import ITEM_STATUSES, check_status

    check_status(args.item_status, ITEM_STATUSES, "--status")
    if args.items < 0:
        raise InvalidInput("--items", "must be a whole number, 0 or more")

    async def action(store: Store) -> int:
        run = await store.get_run(args.run_id, item_status=args.item_status, item_limit=args.items)
        if args.json:
            print(json.dumps(run_json(run), indent=2))
        else:
            _print(run)
            total = (
                run.counts.get(args.item_status, 0)
                if args.item_status
                else sum(run.counts.values())
            )
            if len(run.items) < total:
                print(
                    f"(showing {len(run.items)} of {total} recipients:"
                    f" herald runs show {run.id} --items {total} for all,"
                    " or --status S for some)"
                )
        return 0

    return with_store(config, action)


def _print(run: Run) -> None:
    from gateway.clock import rfc3339

    print(f"run:      {run.id}")
    print(f"status:   {run.status}")
    print(f"type:     {run.email_type} (from {run.source})")
    if run.definition is not None:
        # Each message of a definition run renders its own subject.
        print(f"subject:  {run.subject}  (template, rendered per customer)")
    else:
        print(f"subject:  {run.subject}")
    print(f"from:     {run.mail_from or '<>'}")
    print(f"created:  {rfc3339(run.created_at)}")
    if run.definition is not None:
        print(f"batch:    {run.batch_id} (invoices {run.invoices_dir})")
        print(f"fed:      {rfc3339(run.fed_at) if run.fed_at else 'not yet'}")
        print(f"finished: {rfc3339(run.finished_at) if run.finished_at else 'not yet'}")
    if run.error:
        print(f"error:    {run.error}")
    print(f"counts:   {_counts(run) or '-'}")
    print("recipients:")
    width = max((len(item.customer_id or "") for item in run.items), default=0)
    for item in run.items:
        outcome = item.reply or item.error or ""
        who = f"{item.customer_id or '-':<{width}} " if width else ""
        print(
            f"  #{item.id:<6} {who}{item.address or '-':<32} {item.role:<4} {item.status:<9}"
            f" attempts={item.attempts}  rule={item.rule}  {outcome}"
        )
        if item.attempt_times:
            times = ", ".join(rfc3339(t) for t in item.attempt_times)
            print(f"  {'':<7} attempted: {times}")
        if item.subject is not None:
            print(
                f"  {'':<7} subject: {item.subject}  (definition version {item.definition_version})"
            )
        if item.attachments:
            files = ", ".join(f"{n} ({size} bytes)" for n, size in json.loads(item.attachments))
            print(f"  {'':<7} attachments: {files}")
    print("history:")
    for entry in run.history:
        print(f"  {rfc3339(entry.at)}  {entry.event:<9} {entry.detail}")


def cut(text: str, width: int) -> str:
    """``text`` in at most ``width`` characters, with an ellipsis when cut."""
    return text if len(text) <= width else text[: width - 1] + "…"


def _about(run: Run) -> str:
    return f"batch {run.batch_id}: {_counts(run)}" if run.definition else run.subject


def _counts(run: Run) -> str:
    return " ".join(f"{status}={n}" for status, n in sorted(run.counts.items()))


def batches_for(config: Config, store: Store) -> Batches:
    """Definition runs as this process runs them: the templates, brand and
    delivery configuration in force."""
    from gateway.billing.batches import Batches
    from gateway.content.composer import Composer

    composer = Composer.for_config(config, store)
    return Batches(
        store,
        composer.templates,
        config.runs,
        hostname=config.hostname,
        composer=composer,
        config=config,
    )


def _start(config: Config, args: argparse.Namespace) -> int:
    async def action(store: Store) -> int:
        batches = batches_for(config, store)
        run_id, created = await batches.start(args.definition, args.batch, args.invoices)
        if not created:
            print(
                f"batch {args.batch} of {args.definition} already ran as {run_id}; nothing sent"
                f" (send its failed items again with: herald runs retry {run_id})"
            )
            return 0
        print(f"run {run_id} started; queuing its messages")
        run = await store.get_run(run_id, item_limit=0)
        show = Progress(sys.stdout, total=run.expected or 0, what="customers queued")
        fed = await batches.feed(run_id, progress=show.update)
        show.done()
        if not fed:
            print(f"run {run_id} was cancelled, or is being queued by another process")
            return 1
        print(f"run {run_id} queued; follow it with: herald runs watch {run_id}")
        return 0

    return with_store(config, action)


def _watch(config: Config, args: argparse.Namespace) -> int:
    async def action(store: Store) -> int:
        run = await store.get_run(args.run_id, item_limit=0)
        show = Progress(sys.stdout, total=_total(run), what="recipients done")
        while True:
            done = sum(n for s, n in run.counts.items() if s not in ("queued", "deferred"))
            show.total = _total(run)
            show.update(done, f"{run.status}  {_counts(run)}")
            if run.finished:
                break
            await asyncio.sleep(args.interval)
            run = await store.get_run(args.run_id, item_limit=0)
        show.done()
        print(f"run {run.id} {run.status}: {_counts(run)}")
        return 0 if run.status in ("sent", "dropped") else 1

    return with_store(config, action)


def _total(run: Run) -> int:
    # While a run is fed, customers not yet reached count as one recipient each.
    known = sum(run.counts.values())
    return known if run.fed_at is not None else max(known, run.expected or 0)


def _retry(config: Config, args: argparse.Namespace) -> int:
    async def action(store: Store) -> int:
        queued = await batches_for(config, store).retry(args.run_id, by=actor())
        print(f"{queued} failed item(s) queued again")
        return 0

    return with_store(config, action)


def _cancel(config: Config, args: argparse.Namespace) -> int:
    async def action(store: Store) -> int:
        print(
            f"run {args.run_id} cancelled;"
            f" {await store.cancel_run(args.run_id, by=actor())} item(s) not sent"
        )
        return 0

    return with_store(config, action)


def _resend(config: Config, args: argparse.Namespace) -> int:
    async def action(store: Store) -> int:
        await batches_for(config, store).retry(args.run_id, args.item_id, by=actor())
        print(f"item {args.item_id} of run {args.run_id} queued again")
        return 0

    return with_store(config, action)


class Progress:
    """A live bar on a terminal; otherwise a plain line when something changed."""

    WIDTH = 30

    def __init__(self, stream: TextIO, *, total: int, what: str) -> None:
        self.stream = stream
        self.total = total
        self.what = what
        self.tty = stream.isatty()
        self.started = time.monotonic()
        self.last = ""
        # The rate counts from the first update: what was done before the
        # bar appeared (a run half sent when watched) is no part of it.
        self.base: tuple[float, int] | None = None

    def update(self, done: int, detail: str = "") -> None:
        total = max(self.total, done, 1)
        now = time.monotonic()
        if self.base is None:
            self.base = (now, done)
        since, before = self.base
        rate = f"{(done - before) / (now - since):.0f}/s" if now > since else "-/s"
        if self.tty:
            filled = self.WIDTH * done // total
            bar = "#" * filled + "-" * (self.WIDTH - filled)
            line = f"[{bar}] {100 * done // total:3d}% {done}/{total} {self.what} {rate} {detail}"
            self.stream.write("\r\x1b[K" + line)
            self.stream.flush()
            return
        line = f"{done}/{total} {self.what} {detail}".rstrip()
        if line != self.last:
            print(line, file=self.stream, flush=True)
            self.last = line

    def done(self) -> None:
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()
