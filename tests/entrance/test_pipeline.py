"""Tests for gateway/entrance/pipeline.py: resolving stages and running them on a context."""

from __future__ import annotations

import asyncio
import email.policy
import email.utils
from collections.abc import Awaitable, Callable
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import ClassVar

import pytest
from herald_plugins.delivery_policy import DeliveryPolicy
from herald_plugins.render_template import RenderTemplate

from gateway import config as config_module
from gateway.context import Context
from gateway.entrance.pipeline import Pipeline, Services, Stage, available, resolve
from gateway.errors import ConfigError, Decision, Defer, Drop, Reject, StageError
from gateway.store._sqlite import SQLiteStore

# Test doubles of the Stage protocol: each does one thing to the context.


class Step:
    """A stage that runs `action` on the context and notes that it ran."""

    name: ClassVar[str] = "step"
    description: ClassVar[str] = "test double"

    def __init__(self, label: str, action: Callable[[Context], Awaitable[None]] | None = None):
        self.label = label
        self.action = action

    async def process(self, ctx: Context) -> None:
        ctx.notes.setdefault("ran", []).append(self.label)
        if self.action is not None:
            await self.action(ctx)


class Compose:
    """A stage that sets the message, as render-template would."""

    name: ClassVar[str] = "compose"
    description: ClassVar[str] = "test double"

    def __init__(self, message: EmailMessage) -> None:
        self.message = message

    async def process(self, ctx: Context) -> None:
        ctx.message = self.message


class Raise:
    """A stage that raises the exception it was given."""

    name: ClassVar[str] = "raise"
    description: ClassVar[str] = "test double"

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc

    async def process(self, ctx: Context) -> None:
        raise self.exc


class Slow:
    """A stage that takes far longer than any test timeout."""

    name: ClassVar[str] = "slow"
    description: ClassVar[str] = "test double"

    async def process(self, ctx: Context) -> None:
        await asyncio.sleep(30)


def message(**headers: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "app@example.com"
    msg["To"] = "ada@example.com"
    msg["Subject"] = "Hello"
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    msg.set_content("Hello Ada")
    return msg


def context(*addresses: str) -> Context:
    ctx = Context(
        source="test", email_type="legacy", run_id="run_0001", mail_from="app@example.com"
    )
    for address in addresses or ("ada@example.com",):
        ctx.add_recipient(address, "to", "envelope")
    return ctx


def pipeline(*stages: Stage, timeout: float = 5.0) -> Pipeline:
    return Pipeline(stages, timeout=timeout, hostname="herald.test")


# Resolving stage names


def test_builtin_stages_are_installed() -> None:
    """Both built-in stages are found through the herald.stages entry-point group."""
    installed = available()
    assert installed["render-template"] is RenderTemplate
    assert installed["delivery-policy"] is DeliveryPolicy


def test_resolve_keeps_the_configured_order() -> None:
    """resolve returns the factories in the order the names were given."""
    assert resolve(["render-template", "delivery-policy"]) == [RenderTemplate, DeliveryPolicy]
    assert resolve(["delivery-policy", "render-template"]) == [DeliveryPolicy, RenderTemplate]
    assert resolve([]) == []


def test_resolve_unknown_stage_lists_installed_ones() -> None:
    """An unknown stage name is a ConfigError that names it and lists the installed stages."""
    with pytest.raises(ConfigError) as info:
        resolve(["render-template", "spam-filter"], where="herald.toml: [pipeline] stages")
    text = str(info.value)
    assert text.startswith("herald.toml: [pipeline] stages: unknown stage 'spam-filter'")
    assert "delivery-policy" in text
    assert "render-template" in text


def test_build_uses_the_configured_stages(tmp_path: Path) -> None:
    """Pipeline.build makes one stage per configured name, in order, with the stage timeout."""
    path = tmp_path / "herald.toml"
    path.write_text(
        '[pipeline]\nstages = ["delivery-policy", "render-template"]\nstage_timeout = "2s"\n',
        encoding="utf-8",
    )
    config = config_module.load(
        path, env={"HERALD_STATE_DIR": str(tmp_path), "HERALD_HOSTNAME": "herald.test"}
    )
    services = Services.build(config, SQLiteStore(str(tmp_path / "herald.db")))
    built = Pipeline.build(services)
    assert [type(stage) for stage in built.stages] == [DeliveryPolicy, RenderTemplate]
    assert built.timeout == 2.0
    assert built.hostname == "herald.test"


# Running


async def test_stages_run_in_order() -> None:
    """Stages run one after another in the configured order, on the same context."""
    ctx = context()
    await pipeline(Step("first"), Compose(message()), Step("second"), Step("third")).run(ctx)
    assert ctx.notes["ran"] == ["first", "second", "third"]


@pytest.mark.parametrize(
    "decision",
    [
        Reject("no template for email type 'x'", field="type"),
        Defer("the spam checker is busy"),
        Drop("unsubscribed"),
    ],
    ids=["reject", "defer", "drop"],
)
async def test_stage_decision_propagates(decision: Decision) -> None:
    """A Reject, Defer or Drop raised by a stage reaches the caller unchanged; later stages skip."""
    ctx = context()
    run = pipeline(Step("before"), Compose(message()), Raise(decision), Step("after"))
    with pytest.raises(type(decision)) as info:
        await run.run(ctx)
    assert info.value is decision
    assert info.value.field == decision.field
    assert ctx.notes["ran"] == ["before"]


async def test_slow_stage_defers() -> None:
    """A stage that runs past the stage timeout becomes a Defer naming the stage."""
    ctx = context()
    started = asyncio.get_running_loop().time()
    with pytest.raises(Defer, match=r"stage slow timed out after 0\.05s"):
        await pipeline(Compose(message()), Slow(), Step("after"), timeout=0.05).run(ctx)
    assert asyncio.get_running_loop().time() - started < 5
    assert "ran" not in ctx.notes


@pytest.mark.parametrize(
    "exc",
    [ValueError("boom"), KeyError("boom"), RuntimeError("boom")],
    ids=lambda e: type(e).__name__,
)
async def test_crashing_stage_becomes_stage_error(exc: Exception) -> None:
    """A stage that raises an unexpected exception fails the run with StageError, never sends."""
    ctx = context()
    with pytest.raises(StageError, match=r"stage raise failed: .*boom") as info:
        await pipeline(Compose(message()), Raise(exc), Step("after")).run(ctx)
    assert info.value.__cause__ is exc
    assert isinstance(info.value, RuntimeError)
    assert "ran" not in ctx.notes


async def test_no_message_is_a_stage_error() -> None:
    """If no stage produced a message, the run fails with StageError naming the email type."""
    with pytest.raises(StageError, match="no stage produced a message for email type 'legacy'"):
        await pipeline(Step("only")).run(context())


# Preparing the message to leave


async def test_bcc_and_control_headers_are_removed() -> None:
    """After the run, every Bcc and X-Herald-* header is gone; other headers stay."""
    # Parsed as the SMTP listener parses, so repeated headers survive as they arrive.
    msg = BytesParser(policy=email.policy.default).parsebytes(
        b"From: app@example.com\r\n"
        b"To: ada@example.com\r\n"
        b"Cc: carol@example.com\r\n"
        b"Bcc: hidden@example.com\r\n"
        b"BCC: second-hidden@example.com\r\n"
        b"X-Herald-Type: invoice.issued\r\n"
        b"x-herald-from: billing\r\n"
        b"X-HERALD-PRIORITY: high\r\n"
        b"X-Mailer: legacy-app 1.0\r\n"
        b"Subject: Hello\r\n"
        b"\r\n"
        b"Hello Ada\r\n"
    )
    assert isinstance(msg, EmailMessage)
    ctx = context()
    await pipeline(Compose(msg)).run(ctx)
    assert ctx.message is msg
    names = {name.lower() for name in msg}
    assert "bcc" not in names
    assert not any(name.startswith("x-herald-") for name in names)
    assert msg["Cc"] == "carol@example.com"
    assert msg["X-Mailer"] == "legacy-app 1.0"
    assert msg["To"] == "ada@example.com"
    assert b"hidden@example.com" not in msg.as_bytes()
    assert msg.get_content().strip() == "Hello Ada"


async def test_message_id_and_date_are_added() -> None:
    """A message without Message-ID and Date gets both; the Message-ID names the run and host."""
    msg = message()
    await pipeline(Compose(msg)).run(context())
    assert msg["Message-ID"] == "<run_0001@herald.test>"
    assert email.utils.parsedate_to_datetime(msg["Date"]).tzinfo is not None


async def test_existing_message_id_and_date_are_kept() -> None:
    """A message that already has Message-ID and Date keeps them, once each."""
    msg = message(Message_ID="<abc@app.example.com>", Date="Sun, 01 Nov 2026 10:00:00 +0000")
    await pipeline(Compose(msg)).run(context())
    assert msg.get_all("Message-ID") == ["<abc@app.example.com>"]
    assert msg.get_all("Date") == ["Sun, 01 Nov 2026 10:00:00 +0000"]


# Recipients


async def test_all_recipients_suppressed_is_a_drop() -> None:
    """When every recipient is suppressed, the run is a Drop giving the reasons."""

    async def suppress_all(ctx: Context) -> None:
        reasons = iter(["unsubscribed", "customers off", "unsubscribed"])
        for recipient in ctx.recipients:
            ctx.suppress(recipient, next(reasons))

    ctx = context("ada@example.com", "bob@example.com", "carol@example.com")
    with pytest.raises(Drop) as info:
        await pipeline(Compose(message()), Step("policy", suppress_all)).run(ctx)
    assert info.value.reason == "customers off; unsubscribed"


async def test_no_recipients_is_a_drop() -> None:
    """A context without any recipient is dropped with 'no recipients'."""
    ctx = Context(source="test", email_type="legacy", run_id="run_0001", mail_from="a@example.com")
    with pytest.raises(Drop, match=r"^no recipients$"):
        await pipeline(Compose(message())).run(ctx)


async def test_one_deliverable_recipient_is_enough() -> None:
    """With at least one recipient left unsuppressed, the run completes."""

    async def suppress_first(ctx: Context) -> None:
        ctx.suppress(ctx.recipients[0], "unsubscribed")

    ctx = context("ada@example.com", "bob@example.com")
    await pipeline(Compose(message()), Step("policy", suppress_first)).run(ctx)
    assert [r.address for r in ctx.deliverable] == ["bob@example.com"]
