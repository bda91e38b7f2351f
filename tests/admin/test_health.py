"""Tests for gateway/admin/health.py: ``GET /healthz`` over a real daemon, with
the store made full from outside and given room again."""

from __future__ import annotations

import smtplib
from pathlib import Path

import pytest

from tests.integration.harness import Capture, Herald, wait_until
from tests.integration.test_faults import FAST, FullStore


def test_a_healthy_daemon_answers_ok_without_a_token(herald: Herald) -> None:
    """/healthz needs no token (a load balancer has none) and answers 200 ``ok``."""
    answer = herald.request("GET", "/healthz")
    assert answer.status == 200
    assert answer.headers["Content-Type"].startswith("application/json")
    assert answer.json == {"status": "ok"}


def test_trouble_is_a_503_problem_and_ends_by_the_checks_own_write(tmp_path: Path) -> None:
    """A write the full store refuses turns /healthz into 503 ``store-trouble`` with
    its start; once there is room, /healthz itself tries a write and answers 200
    again, with no mail needed to show that the trouble is over."""
    capture = Capture().start()
    herald = Herald(tmp_path, upstream=capture.url, config=FAST + FullStore.CONFIG).start()
    full = FullStore(herald)
    try:
        assert herald.request("GET", "/healthz").status == 200
        full.fill()
        # More than any page has left: the write needs room the store lacks.
        raw = "Subject: no room\r\n\r\n" + ("y" * 70 + "\r\n") * 3000
        with herald.smtp() as client, pytest.raises(smtplib.SMTPDataError) as refused:
            client.sendmail("app@example.com", ["bob@example.com"], raw)
        assert refused.value.smtp_code == 451
        answer = herald.request("GET", "/healthz")
        assert answer.status == 503
        assert answer.headers["Content-Type"].startswith("application/problem+json")
        assert answer.json["type"] == "urn:herald:problem:store-trouble"
        assert answer.json["since"].endswith("Z")
        assert FullStore.ERROR in answer.json["detail"]
        assert answer.json["unrecorded_outcomes"] == 0
        full.make_room()
        wait_until(
            lambda: herald.request("GET", "/healthz").status == 200, 10, "/healthz to recover"
        )
    finally:
        herald.stop()
        capture.stop()
