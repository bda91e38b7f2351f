"""The queue page in a real Chromium against the real daemon, its upstream
down so that mail waits: hold, release, retry now and purge, on one message
and on a selection, each checked through the admin API; and the page of a
message still to compose."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.console import Person, add_user, browser, shot, signed_in
from tests.integration.harness import (
    Capture,
    Herald,
    operator_herald,
    operator_upstream,
    wait_until,
)
from tests.integration.test_end_to_end import accepted, event

# After tests.integration.console, which skips this module where Chromium is missing.
from playwright.sync_api import Browser, Page, expect  # isort: skip

__all__ = ["browser", "operator_herald", "operator_upstream"]  # the fixtures, for pytest


@pytest.fixture(scope="module")
def otto(herald: Herald) -> Person:
    """An operator: the "runs" role reads runs and operates the queue."""
    return add_user(herald, "otto", "runs")


@pytest.fixture
def page(browser: Browser, herald: Herald, otto: Person) -> Iterator[Page]:
    with signed_in(browser, herald, otto) as tab:
        yield tab


def waiting(herald: Herald, count: int) -> dict[str, str]:
    """``count`` new platform events, deferred while the upstream is down: run id to message id."""
    runs = [accepted(herald, event("account.created")) for _ in range(count)]
    for run_id in runs:
        herald.wait_for_status(run_id, "deferred")
    ids = {m["run_id"]: m["message_id"] for m in herald.admin("/v1/queue").json["messages"]}
    return {run_id: ids[run_id] for run_id in runs}


def queue_status(herald: Herald) -> dict[str, str]:
    """Each waiting message's status, as the admin API says."""
    return {m["message_id"]: m["status"] for m in herald.admin("/v1/queue").json["messages"]}


def row_button(page: Page, message_id: str, name: str) -> None:
    page.locator(f"tr[data-message={message_id}]").get_by_role("button", name=name).click()


def test_a_message_still_to_compose_says_so_and_has_nothing_to_download(
    page: Page, herald: Herald
) -> None:
    """A platform event's message is composed at its first attempt: while the
    upstream was never reached the message page says so and offers no .eml."""
    [run_id] = waiting(herald, 1)
    page.goto(f"/runs/{run_id}")
    page.get_by_role("link", name="ada@example.com").click()
    expect(page.get_by_test_id("no-body")).to_contain_text("not composed yet")
    assert page.get_by_test_id("download-eml").count() == 0
    response = page.goto(page.url + ".eml")
    assert response is not None
    assert response.status == 404
    expect(page.locator("main")).to_contain_text("not composed yet")


def test_the_queue_page_holds_releases_retries_and_purges_one_or_a_selection(
    page: Page, herald: Herald, upstream: Capture
) -> None:
    """Each row's buttons act on that message and the buttons above the table
    on the ticked ones; a purge without a reason is refused at the field and
    purges nothing; what the page did is what the admin API then reports, and
    the runs' history names the console user."""
    runs = waiting(herald, 4)
    first, second, third, fourth = runs.values()
    p = page
    p.goto("/queue")
    expect(p.locator("h1")).to_have_text("Queue")
    for message_id in runs.values():
        expect(p.locator(f"tr[data-message={message_id}]")).to_contain_text("SMTPConnectError")

    row_button(p, first, "Hold")
    expect(p.locator(".flash.ok")).to_contain_text(f"1 message(s) held: {first}")
    assert queue_status(herald)[first] == "held"
    shot(p, "queue")
    row_button(p, first, "Release")
    expect(p.locator(".flash.ok")).to_contain_text("released")
    # Released, it is due at once: the queue may be trying it (the upstream is
    # still down) before it waits again, queued.
    wait_until(lambda: queue_status(herald)[first] == "queued", 10, "the released message")

    # A purge asks why; without a reason nothing is purged.
    row_button(p, second, "Purge")
    expect(p.locator("#reason-error")).to_have_text("Say why these messages are purged.")
    assert second in queue_status(herald)
    p.fill("#reason", "sent by hand")
    row_button(p, second, "Purge")
    expect(p.locator(".flash.ok")).to_contain_text(f"1 message(s) purged: {second}")
    assert second not in queue_status(herald)
    second_run = next(r for r, m in runs.items() if m == second)
    purged = herald.run(second_run)
    assert purged["status"] == "failed"
    assert purged["items"][0]["error"] == "sent by hand"
    assert purged["history"][-1]["detail"] == "by console:otto: sent by hand"

    # The selection: two ticked, held together, then purged together.
    p.check(f"#pick-{third}")
    p.check(f"#pick-{fourth}")
    p.get_by_role("button", name="Hold selected").click()
    expect(p.locator(".flash.ok")).to_contain_text("2 message(s) held")
    statuses = queue_status(herald)
    assert (statuses[third], statuses[fourth], statuses[first]) == ("held", "held", "queued")
    held_run = next(r for r, m in runs.items() if m == third)
    assert herald.run(held_run)["history"][-1]["detail"] == "held by console:otto"
    p.get_by_role("button", name="Purge selected").click()
    expect(p.locator("#message-error")).to_have_text("Tick at least one message first.")
    p.check(f"#pick-{third}")
    p.check(f"#pick-{fourth}")
    p.fill("#reason", "customer left")
    p.get_by_role("button", name="Purge selected").click()
    expect(p.locator(".flash.ok")).to_contain_text("2 message(s) purged")
    statuses = queue_status(herald)
    assert third not in statuses
    assert fourth not in statuses

    # The box in the table's head (shown by the page's script) ticks and clears every row.
    p.check("[data-pick-all]")
    boxes = p.locator("input[name=message]")
    assert boxes.count() >= 2
    assert all(boxes.nth(i).is_checked() for i in range(boxes.count()))
    p.uncheck("[data-pick-all]")
    assert not any(boxes.nth(i).is_checked() for i in range(boxes.count()))

    # Retry now: the next attempt is ten minutes away, so only this sends it in time.
    upstream.start()
    first_run = next(r for r, m in runs.items() if m == first)
    row_button(p, first, "Retry now")
    expect(p.locator(".flash.ok")).to_contain_text(f"1 message(s) due now: {first}")
    herald.wait_for_status(first_run, "sent", timeout=15)
    [mail] = upstream.wait_for_run(first_run)
    assert mail.rcpt_tos == ["ada@example.com"]
    assert first not in queue_status(herald)


def test_a_reader_sees_the_queue_but_no_button_to_change_it(
    browser: Browser, herald: Herald
) -> None:
    """The read-only role opens the queue page without any form to act, and a
    forged action is refused: reading needs runs:read, acting queue:operate."""
    with signed_in(browser, herald, add_user(herald, "rita", "read-only")) as reader:
        reader.goto("/queue")
        expect(reader.locator("h1")).to_have_text("Queue")
        assert reader.locator("input[name=message]").count() == 0
        assert reader.get_by_role("button", name="Purge selected").count() == 0
        csrf = reader.locator("input[name=csrf]").first.get_attribute("value")
        answer = reader.request.post(
            "/queue/hold",
            form={"csrf": csrf or "", "only": "msg_0000"},
            headers={"Origin": herald.base_url},
        )
        assert answer.status == 403
