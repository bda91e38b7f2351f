"""Secrets never show: not in logs, API answers, error messages or run records."""

from __future__ import annotations

import json
import re
import time
import uuid
from pathlib import Path

from tests.integration.harness import Capture, Herald, wait_until

PASSWORD = "upstream-Pa55word-never-shown"


def test_no_secret_reaches_logs_answers_errors_or_runs(tmp_path: Path, capture: Capture) -> None:
    """Upstream password, webhook secret, admin token and a scoped token stay hidden everywhere."""
    upstream = f"smtp://herald:{PASSWORD}@127.0.0.1:{capture.port}"
    daemon = Herald(tmp_path, upstream=upstream, config='[queue]\npoll_interval = "0.2s"\n')
    daemon.start()
    try:
        created = daemon.cli("tokens", "create", "reader", "--scope", "runs:read")
        scoped = re.search(r"shown once\): (\S+)", created.stdout)
        assert scoped is not None
        body = json.loads(Path("tests/fixtures/events/account.created.json").read_text())
        body["id"] = f"evt_{uuid.uuid4().hex}"
        accepted = daemon.post_event(body)
        assert accepted.status == 202
        run_id = accepted.json["run_id"]
        # The capture upstream offers no AUTH, so the login fails and the error is recorded.
        run = wait_until(
            lambda: (r := daemon.run(run_id))["items"][0].get("error") and r,
            timeout=15,
            what="the failed login to be recorded",
        )
        bad_signature = daemon.post_event(body, at=int(time.time()) - 3600)
        unauthorized = daemon.admin("/v1/runs", "wrong-token")
        answers = [
            json.dumps(run),
            daemon.admin("/v1/runs").body.decode(),
            daemon.admin("/v1/openapi.json").body.decode(),
            bad_signature.body.decode(),
            unauthorized.body.decode(),
            daemon.cli("check").stdout,
            daemon.cli("runs", "show", run_id).stdout,
            daemon.cli("tokens", "list").stdout,
        ]
    finally:
        daemon.stop()
    secrets = {
        "upstream password": PASSWORD,
        "webhook secret": Herald.SECRET,
        "webhook key": Herald.SECRET.removeprefix("whsec_"),
        "admin token": Herald.TOKEN,
        "scoped token": scoped[1],
    }
    for name, secret in secrets.items():
        assert secret not in daemon.log(), f"{name} in the log"
        for answer in answers:
            assert secret not in answer, f"{name} in {answer[:200]}"
