"""Tests for gateway/admin/audit.py: the newest changes first, narrowed by
setting, with a bounded page, through a real daemon."""

from __future__ import annotations

import pytest

from tests.integration.harness import Herald


def test_changes_come_newest_first_and_narrow_to_one_setting(herald: Herald) -> None:
    """Two changes of the admin address are listed newest first with old and new
    values, and ``setting=`` keeps only that setting's entries."""
    for address in ("first@herald.test", "second@herald.test"):
        answer = herald.admin("/v1/delivery/admin", method="PUT", body={"address": address})
        assert answer.status == 200, answer.body
    herald.admin("/v1/smtp-users/elsewhere", method="PUT", body={"password": "x" * 16})
    changes = herald.admin("/v1/audit?setting=delivery/admin").json["changes"]
    assert {c["setting"] for c in changes} == {"delivery/admin"}
    newest, older = changes[:2]
    assert newest["new"] == {"address": "second@herald.test"}
    assert newest["old"] == {"address": "first@herald.test"}
    assert older["new"] == {"address": "first@herald.test"}
    assert newest["at"] >= older["at"]
    assert len(herald.admin("/v1/audit?limit=1").json["changes"]) == 1


@pytest.mark.parametrize("query", ["limit=0", "limit=501", "limit=many"])
def test_a_bad_limit_is_a_400_problem(herald: Herald, query: str) -> None:
    """A page size outside 1 to 500 is refused with a problem naming the limit."""
    answer = herald.admin(f"/v1/audit?{query}")
    assert answer.status == 400
    assert answer.headers["Content-Type"].startswith("application/problem+json")
    assert "limit" in answer.json["detail"]


def test_the_audit_log_needs_a_token(herald: Herald) -> None:
    """Without a bearer token nothing of the audit log is shown."""
    answer = herald.admin("/v1/audit", token=None)
    assert answer.status == 401
    assert b"delivery/admin" not in answer.body
