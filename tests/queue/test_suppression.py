"""Tests for gateway/queue/suppression.py: which refusals suppress an address,
and a real queue manager relaying to a real upstream that refuses a mailbox."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config import QueueSettings
from gateway.content.templating import Templates
from gateway.entrance import delivery
from gateway.queue.qmgr import QueueManager
from gateway.queue.suppression import mailbox_unknown, operator_suppression
from gateway.store import Run, Store
from tests.capture import Capture
from tests.queue.test_qmgr import queue_one, router_for, serving, settled

GONE = "550 5.1.1 <gone@example.com>: Recipient address rejected: User unknown"


@pytest.mark.parametrize(
    ("reply", "status"),
    [
        (GONE, None),
        ("550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP lookup", None),
        ("550 5.1.0 Address rejected: user unknown in virtual mailbox table", None),
        ("550 5.1.2 Host or domain name not found", None),
        ("550 No such user here", None),
        ("smtp; 550 5.1.1 The email account that you tried to reach does not exist", "5.1.1"),
        ("smtp; 550 Requested action not taken", "5.1.1"),
        ("", "5.1.1"),
    ],
)
def test_a_refusal_for_a_missing_mailbox_suppresses(reply: str, status: str | None) -> None:
    """Permanent refusals whose status or words say the mailbox does not exist."""
    assert mailbox_unknown(reply, status)


@pytest.mark.parametrize(
    ("reply", "status"),
    [
        ("554 5.7.1 Message rejected: spam content", None),
        ("550 5.7.26 Unauthenticated email is not accepted from this domain", None),
        ("552 5.2.2 Mailbox full", None),
        ("550 5.6.0 Message content rejected", None),
        ("550 5.1.0 Sender address rejected", None),
        ("450 4.1.1 Recipient address rejected: try again later", None),
        ("451 User unknown, temporarily", None),
        ("550 Relaying denied", None),
        ("smtp; 550 5.7.1 blocked by policy", "5.7.1"),
        ("smtp; 450 4.1.1 mailbox busy", "4.1.1"),
        (None, None),
    ],
)
def test_policy_content_and_temporary_refusals_do_not(
    reply: str | None, status: str | None
) -> None:
    """Refusals for policy, content, a full mailbox or of a temporary kind say
    nothing about whether the mailbox exists."""
    assert not mailbox_unknown(reply, status)


async def test_a_missing_mailbox_is_suppressed_and_the_next_message_skips_it(
    store: Store, tmp_path: Path, upstream: tuple[Capture, int]
) -> None:
    """A 550 5.1.1 fails the recipient and suppresses it with the reply, in the
    audit log too; the next message to it is recorded skipped ("suppressed
    since ...") while its other recipient is sent; a type that ignores
    suppressions sends to it again."""
    capture = upstream[0]
    capture.rcpt_replies = {"gone@": GONE}
    router = router_for(store, tmp_path, capture.url)
    manager = QueueManager(store, router, QueueSettings(poll_interval=0.05))
    async with serving(manager):
        first = await queue_one(store, "gone@example.com")
        manager.wake()
        failed = await settled(store, first, "failed")
        assert failed.items[0].error == GONE
        [entry] = (await store.suppressions_for(["Gone@Example.com"])).values()
        assert (entry.address, entry.reason, entry.source, entry.run_id) == (
            "gone@example.com",
            GONE,
            "upstream",
            first,
        )
        [audit] = await store.list_audit(setting="suppressions")
        assert (audit.setting, audit.actor) == ("suppressions/gone@example.com", "upstream")

        second = await queue_one(store, "Gone@example.com", "ada@example.com")
        manager.wake()
        run = await settled(store, second, "sent")
        statuses = {item.address: (item.status, item.error) for item in run.items}
        assert statuses["ada@example.com"] == ("sent", None)
        status, error = statuses["Gone@example.com"]
        assert status == "skipped"
        assert (error or "").startswith("suppressed since ")
        assert GONE in (error or "")
        received = [c.rcpt_tos for c in capture.received]
        assert received == [["ada@example.com"]]

        capture.rcpt_replies = {}
        await delivery.set_type(
            store,
            router.config,
            Templates(router.config.templates_dir),
            "account.created",
            {"ignore_suppressions": True},
            actor="test",
        )
        third = await queue_one(store, "gone@example.com")
        manager.wake()
        await settled(store, third, "sent")
    assert [c.rcpt_tos for c in capture.received][-1] == ["gone@example.com"]


async def test_a_suppression_added_meanwhile_holds_back_the_next_message(
    store: Store, tmp_path: Path, upstream: tuple[Capture, int]
) -> None:
    """With the list seen empty, an operator's suppression (written by the
    store directly, as another node would) is seen by the next message
    claimed; removing it lets the one after go to that recipient again."""
    capture = upstream[0]
    manager = manager_for(store, tmp_path, capture)
    async with serving(manager):
        await relayed(store, manager, "sent", "ada@example.com")
        await store.add_suppression(operator_suppression("Ada@example.com", None), actor="t")
        run = await relayed(store, manager, "sent", "ada@example.com", "bob@example.com")
        statuses = {item.address: item.status for item in run.items}
        assert statuses == {"ada@example.com": "skipped", "bob@example.com": "sent"}
        await store.remove_suppression("ada@example.com", actor="t")
        await relayed(store, manager, "sent", "ada@example.com")
    assert [c.rcpt_tos for c in capture.received] == [
        ["ada@example.com"],
        ["bob@example.com"],
        ["ada@example.com"],
    ]


def manager_for(store: Store, tmp_path: Path, capture: Capture) -> QueueManager:
    return QueueManager(
        store, router_for(store, tmp_path, capture.url), QueueSettings(poll_interval=0.05)
    )


async def relayed(store: Store, manager: QueueManager, status: str, *addresses: str) -> Run:
    """A message to ``addresses`` queued and its run settled at ``status``."""
    run_id = await queue_one(store, *addresses)
    manager.wake()
    return await settled(store, run_id, status)


async def test_a_policy_refusal_suppresses_nothing(
    store: Store, tmp_path: Path, upstream: tuple[Capture, int]
) -> None:
    """A 550 5.7.1 fails the recipient and leaves the list as it was."""
    capture = upstream[0]
    capture.rcpt_replies = {"ada@": "550 5.7.1 Rejected by policy"}
    async with serving(manager := manager_for(store, tmp_path, capture)):
        await relayed(store, manager, "failed", "ada@example.com")
    assert await store.list_suppressions() == []
