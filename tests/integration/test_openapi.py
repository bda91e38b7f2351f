"""The OpenAPI document served by the live daemon, fuzzed with schemathesis."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

from tests.integration.harness import Herald


def test_openapi_document_is_served_without_a_token(tmp_path: Path) -> None:
    """GET /v1/openapi.json answers OpenAPI 3.1 to anyone and names the bearer scheme."""
    daemon = Herald(tmp_path, upstream=None).start()
    try:
        answer = daemon.request("GET", "/v1/openapi.json")
        assert answer.status == 200
        document = answer.json
        assert document["openapi"] == "3.1.0"
        assert document["paths"]["/v1/runs"]["get"]["security"] == [{"bearer": ["runs:read"]}]
        assert Herald.TOKEN not in answer.body.decode()
    finally:
        daemon.stop()


def test_schemathesis_finds_no_server_error(tmp_path: Path) -> None:
    """Generated valid and invalid requests to every documented operation, negative mode and
    requests without a token included, never get a 5xx; the valid token never gets 429."""
    daemon = Herald(tmp_path, upstream=None, env={"HERALD_WEBHOOK_SECRET": None}).start()
    har = tmp_path / "schemathesis.har"
    try:
        result = subprocess.run(
            [
                str(Path(sys.executable).with_name("schemathesis")),
                "run",
                f"{daemon.base_url}/v1/openapi.json",
                "--checks",
                "not_a_server_error",
                # Bounded in examples, not time: the same cases every run. The
                # coverage phase and negative mode send what the schema forbids,
                # security parameters included (requests without a token).
                "--phases",
                "examples,coverage,fuzzing",
                "--mode",
                "all",
                "--max-examples",
                "10",
                "--seed",
                "7",
                # One worker: schemathesis's coverage phase is not safe across
                # threads, and two cores gain nothing from more.
                "--workers",
                "1",
                "--header",
                f"Authorization: Bearer {Herald.TOKEN}",
                "--generation-database",
                "none",
                "--no-color",
                "--output-sanitize",
                "false",
                "--report",
                "har",
                "--report-har-path",
                str(har),
                # These would save or try an upstream taken from generated
                # input (tests talk to loopback only), or start a definition
                # run over whatever folder the generated definition names.
                "--exclude-path-regex",
                "(/smtp(/test)?|/definitions/.*)$",
            ],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
            cwd=tmp_path,
        )
        assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
        assert "http_handler_failed" not in daemon.log()
        entries = json.loads(har.read_text())["log"]["entries"]
        statuses = Counter(entry["response"]["status"] for entry in entries)
        assert not [status for status in statuses if status >= 500], statuses
        # Negative mode sends what the schema forbids, and no token at times.
        assert {400, 401, 415, 422} <= set(statuses), statuses
        with_token = [
            entry["response"]["status"]
            for entry in entries
            if {"name": "Authorization", "value": f"Bearer {Herald.TOKEN}"}
            in entry["request"]["headers"]
        ]
        assert with_token
        assert 429 not in with_token, statuses
    finally:
        daemon.stop()
