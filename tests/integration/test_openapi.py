"""The OpenAPI document served by the live daemon, fuzzed with schemathesis."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests import stores
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


@pytest.mark.skipif(
    stores.KIND == "postgresql", reason="runs in the SQLite pass: the API is the same on both"
)
def test_schemathesis_finds_no_server_error(tmp_path: Path) -> None:
    """Generated valid and invalid requests to every documented operation never get a 5xx."""
    daemon = Herald(tmp_path, upstream=None, env={"HERALD_WEBHOOK_SECRET": None}).start()
    try:
        result = subprocess.run(
            [
                str(Path(sys.executable).with_name("schemathesis")),
                "run",
                f"{daemon.base_url}/v1/openapi.json",
                "--checks",
                "not_a_server_error",
                # Bounded in examples, not time: the same cases every run.
                "--phases",
                "examples,fuzzing",
                "--max-examples",
                "10",
                "--seed",
                "7",
                "--workers",
                "4",
                "--header",
                f"Authorization: Bearer {Herald.TOKEN}",
                "--generation-with-security-parameters",
                "false",
                "--generation-database",
                "none",
                "--no-color",
                # These would save or try an upstream taken from generated
                # input (tests talk to loopback only), or start a definition
                # run over whatever folder the generated definition names.
                "--exclude-path-regex",
                "(/smtp(/test)?|/definitions/.*)$",
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            cwd=tmp_path,
        )
        assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
        assert "http_handler_failed" not in daemon.log()
    finally:
        daemon.stop()
