"""Tests for gateway/admin/runs.py: runs newest first with filters and pages, one
run with its items, and cancel, retry and resend, through a real daemon."""

from __future__ import annotations

import urllib.parse

import pytest

from tests.integration.harness import Capture, Herald
from tests.integration.test_faults import smtp_message


def deferred(herald: Herald, subject: str, to: str = "bob@example.com") -> str:
    """A run whose message the down upstream has deferred once."""
    run_id = smtp_message(herald, subject, to)
    herald.wait_for_status(run_id, "deferred", timeout=30)
    return run_id


def test_runs_are_listed_newest_first_filtered_and_paged(herald: Herald) -> None:
    """Filters by status and type hold on every page, and the next link leads on
    to older runs until there are none."""
    made = [deferred(herald, f"page {n}") for n in range(3)]
    first = herald.admin("/v1/runs?status=deferred&type=legacy&limit=2")
    assert first.status == 200, first.body
    assert len(first.json["runs"]) == 2
    seen = [run["id"] for run in first.json["runs"]]
    link = first.json["next"]
    while link:
        page = herald.admin(link).json
        seen += [run["id"] for run in page["runs"]]
        link = page.get("next")
    assert seen[:3] == made[::-1]
    assert len(seen) == len(set(seen))
    listed = herald.admin("/v1/runs?status=sent").json["runs"]
    assert not set(made) & {run["id"] for run in listed}


def test_runs_are_found_by_recipient_date_and_query(herald: Herald) -> None:
    """The to/after/before parameters and the q query find the same runs as the
    console's query box; a bad term is a 400 problem naming the parameter."""
    mine = deferred(herald, "for carol", to="Carol@Example.com")
    by_to = herald.admin("/v1/runs?to=carol@example.com").json["runs"]
    assert [run["id"] for run in by_to] == [mine]
    query = urllib.parse.quote("to:CAROL@example.com status:deferred after:2000-01-01")
    assert [run["id"] for run in herald.admin(f"/v1/runs?q={query}").json["runs"]] == [mine]
    assert herald.admin("/v1/runs?to=carol@example.com&before=2000-01-01").json["runs"] == []
    for path, name, says in (
        ("/v1/runs?after=yesterday", "after", "'yesterday' is not a date"),
        ("/v1/runs?q=colour:red", "q", "unknown key 'colour'"),
        ("/v1/runs?status=lost", "status", "unknown status 'lost'"),
    ):
        answer = herald.admin(path)
        assert answer.status == 400, answer.body
        assert answer.headers["Content-Type"].startswith("application/problem+json")
        [error] = answer.json["errors"]
        assert error["pointer"] == name
        assert says in error["detail"]


def test_one_run_shows_its_items_and_history(herald: Herald) -> None:
    """GET /v1/runs/ID has the recipient with its attempt and error, and items=0
    leaves the items out while the counts stay."""
    run_id = deferred(herald, "shown")
    run = herald.admin(f"/v1/runs/{run_id}").json
    [item] = run["items"]
    assert (item["address"], item["status"], item["attempts"]) == ("bob@example.com", "deferred", 1)
    assert item["error"]
    assert [entry["event"] for entry in run["history"]][:2] == ["accepted", "deferred"]
    bare = herald.admin(f"/v1/runs/{run_id}?items=0").json
    assert bare["counts"] == {"deferred": 1}
    assert not bare.get("items")


def test_cancel_skips_what_is_pending_and_retry_queues_it_again(
    herald: Herald, upstream: Capture
) -> None:
    """Cancel marks the pending recipient skipped; a resend of that item queues it
    once more, and with the upstream back it is sent."""
    run_id = deferred(herald, "cancelled then resent")
    cancelled = herald.admin(f"/v1/runs/{run_id}/cancel", method="POST")
    assert cancelled.json == {"skipped": 1}
    run = herald.wait_for_status(run_id, "cancelled")
    assert "1 item(s) not sent, by admin-api" in [entry["detail"] for entry in run["history"]]
    [item] = run["items"]
    assert item["status"] == "skipped"
    upstream.start()
    resent = herald.admin(f"/v1/runs/{run_id}/items/{item['id']}/resend", method="POST")
    assert resent.status == 202, resent.body
    run = herald.wait_for_status(run_id, "sent", timeout=30)
    assert [item["status"] for item in run["items"]] == ["sent"]
    [mail] = upstream.wait_for(lambda c: c.message["Subject"] == "cancelled then resent")
    assert mail.rcpt_tos == ["bob@example.com"]


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/v1/runs/run_nosuchrun", 404),
        ("POST", "/v1/runs/run_nosuchrun/cancel", 404),
        ("POST", "/v1/runs/run_nosuchrun/items/x/resend", 404),
        ("GET", "/v1/runs?limit=201", 400),
        ("GET", "/v1/runs?limit=-1", 400),
    ],
)
def test_unknown_runs_and_bad_pages_are_problems(
    herald: Herald, method: str, path: str, status: int
) -> None:
    """An unknown run or item is a 404 problem and a bad limit a 400, never a crash."""
    answer = herald.admin(path, method=method)
    assert answer.status == status, answer.body
    assert answer.headers["Content-Type"].startswith("application/problem+json")
