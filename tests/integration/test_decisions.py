"""One decision, the matching answer on every way in: the webhook and the SMTP listener.

A third-party stage, installed as a real distribution through the
``herald.stages`` entry points, decides as each message asks: the event's
``data.decision`` or the legacy message's ``X-Test-Decision`` header.
"""

from __future__ import annotations

import email.policy
import re
import uuid
from collections.abc import Iterator
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import pytest

from tests.integration.harness import Capture, Herald
from tests.integration.test_end_to_end import event

STAGE = """
from typing import ClassVar

from gateway.errors import Defer, Drop, Overloaded, Reject


class Decide:
    name: ClassVar[str] = "decide"
    description: ClassVar[str] = "Decides as the message asks"

    def __init__(self, services):
        pass

    async def process(self, ctx):
        if ctx.event is not None:
            wanted = ctx.event.data.get("decision", "")
        else:
            wanted = str(ctx.message.get("X-Test-Decision", ""))
        if wanted == "reject":
            raise Reject("refused by the deciding stage")
        if wanted == "defer":
            raise Defer("the deciding stage asks for a retry")
        if wanted == "overloaded":
            raise Overloaded("the deciding stage has no room")
        if wanted == "drop":
            raise Drop("dropped by the deciding stage")
        if wanted == "crash":
            raise RuntimeError("the deciding stage crashed")
"""

CONFIG = """
[pipeline]
stages = ["decide", "render-template", "substitute-tags", "delivery-policy"]

[queue]
retry_initial = "0.3s"
retry_max = "1s"
poll_interval = "0.2s"
lifetime = "20s"

[sender]
address = "notify@herald.test"
"""

# decision: (HTTP status, problem type, Retry-After, SMTP code, enhanced code, run status)
EXPECTED: dict[str, tuple[int, str | None, str | None, int, str, str | None]] = {
    "reject": (422, "rejected", None, 550, "5.7.1", "rejected"),
    "defer": (503, "deferred", "60", 451, "4.3.0", None),
    "overloaded": (503, "queue-full", "30", 451, "4.3.1", None),
    "drop": (202, None, None, 250, "2.0.0", "dropped"),
    "crash": (500, "stage-failed", None, 451, "4.3.0", "failed"),
}


def install_stage(site: Path) -> None:
    """The deciding stage as a distribution on ``site``, found as any third-party one."""
    (site / "herald_decide.py").write_text(STAGE, encoding="utf-8")
    info = site / "herald_decide-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: herald-decide\nVersion: 1.0\n", encoding="utf-8"
    )
    (info / "entry_points.txt").write_text(
        "[herald.stages]\ndecide = herald_decide:Decide\n", encoding="utf-8"
    )


@pytest.fixture(scope="module")
def capture() -> Iterator[Capture]:
    server = Capture().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def herald(tmp_path_factory: pytest.TempPathFactory, capture: Capture) -> Iterator[Herald]:
    workdir = tmp_path_factory.mktemp("decisions")
    site = workdir / "site"
    site.mkdir()
    install_stage(site)
    daemon = Herald(
        workdir, upstream=capture.url, config=CONFIG, env={"PYTHONPATH": str(site)}
    ).start()
    yield daemon
    daemon.stop()


def post(herald: Herald, decision: str) -> Any:
    return herald.post_event(event("account.created", data={"decision": decision}))


def send(herald: Herald, decision: str) -> tuple[int, str]:
    raw = (
        "From: app@example.com\r\n"
        "To: bob@example.com\r\n"
        f"Message-ID: <{uuid.uuid4().hex}@example.com>\r\n"
        f"X-Test-Decision: {decision}\r\n"
        "Subject: A decision\r\n"
        "\r\n"
        "Decide me.\r\n"
    )
    with herald.smtp() as client:
        client.ehlo()
        assert client.docmd("MAIL FROM:<app@example.com>")[0] == 250
        assert client.docmd("RCPT TO:<bob@example.com>")[0] == 250
        code, reply = client.data(raw.encode())
    return code, reply.decode()


def runs(herald: Herald, email_type: str) -> dict[str, str]:
    """The status of each recent run of ``email_type``, by run id."""
    answer = herald.admin(f"/v1/runs?type={email_type}&limit=100")
    assert answer.status == 200, answer.body
    return {run["id"]: run["status"] for run in answer.json["runs"]}


@pytest.mark.parametrize("decision", sorted(EXPECTED))
def test_a_decision_answers_alike_on_the_webhook_and_smtp(herald: Herald, decision: str) -> None:
    """Each stage decision gets the status, problem type and Retry-After on the webhook
    that matches its SMTP reply on the listener, and both ways record the same run."""
    status, kind, retry_after, code, enhanced, run_status = EXPECTED[decision]
    web_before, smtp_before = runs(herald, "account.created"), runs(herald, "legacy")

    answer = post(herald, decision)
    assert answer.status == status, answer.body
    assert answer.headers.get("Retry-After") == retry_after
    if kind is None:
        assert answer.json["status"] == "dropped"
    else:
        assert answer.headers["Content-Type"].startswith("application/problem+json")
        assert answer.json["type"] == f"urn:herald:problem:{kind}"
        assert answer.json["status"] == status
    smtp_code, reply = send(herald, decision)
    assert (smtp_code, reply.split(" ", 1)[0]) == (code, enhanced), reply

    # A deferral records nothing (the sender keeps the message and retries);
    # every other decision records one run, ended the same way on both.
    recorded = [] if run_status is None else [run_status]
    for email_type, before in (("account.created", web_before), ("legacy", smtp_before)):
        after = runs(herald, email_type)
        assert [after[r] for r in after.keys() - before.keys()] == recorded, email_type


def test_a_crashed_stage_is_herald_s_fault_on_both_ways_in(herald: Herald) -> None:
    """A crashed stage is HTTP 500 on the webhook and 451 4.3.0 naming the failed run
    on SMTP, and neither message reaches the upstream."""
    answer = post(herald, "crash")
    assert answer.status == 500
    code, reply = send(herald, "crash")
    assert code == 451
    smtp_run = re.search(r"run (run_\w+) failed", reply)
    assert smtp_run is not None, reply
    for run_id in (answer.json["run_id"], smtp_run.group(1)):
        assert herald.wait_for_status(run_id, "failed")["status"] == "failed"
    assert herald.events("stage_failed")


def test_each_deferral_has_its_own_log_event(herald: Herald, capture: Capture) -> None:
    """A refusal at intake logs intake_deferred; an upstream's 4yz logs delivery_deferred;
    neither name stands for the other, and the message deferred upstream arrives later."""
    refused = post(herald, "defer")
    assert refused.status == 503
    capture.data_replies.append("451 4.3.0 try again later")
    accepted = post(herald, "")
    assert accepted.status == 202, accepted.body
    run_id = accepted.json["run_id"]
    herald.wait_for_status(run_id, "sent", timeout=30)

    [mail] = capture.wait_for_run(run_id)
    message = BytesParser(policy=email.policy.default).parsebytes(mail.content)
    assert message["To"].addresses[0].addr_spec == "ada@example.com"

    intake = herald.events("intake_deferred")
    delivery = herald.events("delivery_deferred")
    assert any(e.get("reason") == "the deciding stage asks for a retry" for e in intake)
    assert [e["run_id"] for e in delivery if e.get("run_id") == run_id] == [run_id]
    assert all(e.get("run_id") != run_id for e in intake)
    assert not herald.events("message_deferred")
