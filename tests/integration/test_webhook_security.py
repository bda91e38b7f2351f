"""The webhook and message content under attack: replays, floods, forged
signatures, header injection and blind copies."""

from __future__ import annotations

import http.client
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tests.integration.harness import LOOPBACK, Capture, Herald, standard_webhooks_headers

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def event(kind: str = "invoice.issued", **data: Any) -> dict[str, Any]:
    body: dict[str, Any] = json.loads((FIXTURES / "events" / f"{kind}.json").read_text())
    body["id"] = f"evt_{uuid.uuid4().hex}"
    body["data"] = {**body["data"], **data}
    return body


def post(herald: Herald, body: bytes, msg_id: str, **overrides: str) -> Any:
    headers = {"Content-Type": "application/json"}
    headers |= standard_webhooks_headers(Herald.SECRET, body, msg_id, int(time.time()))
    headers |= overrides
    return herald.request("POST", "/v1/events", body, headers)


def test_a_replayed_webhook_id_answers_the_first_run(herald: Herald, capture: Capture) -> None:
    """The same webhook-id with a new event id and re-signed body returns the first run, once."""
    delivery = f"msg_{uuid.uuid4().hex}"
    first = post(herald, json.dumps(event()).encode(), delivery)
    assert first.status == 202
    run_id = first.json["run_id"]
    second_event = event()
    again = post(herald, json.dumps(second_event).encode(), delivery)
    assert again.status == 202
    assert again.json == {"run_id": run_id, "status": "duplicate", "duplicate": True}
    capture.wait_for_run(run_id)
    runs = herald.admin("/v1/runs?limit=200").json["runs"]
    assert sum(run["id"] == run_id for run in runs) == 1
    # The second event's own id was never recorded: posting it fresh makes a new run.
    fresh = post(herald, json.dumps(second_event).encode(), f"msg_{uuid.uuid4().hex}")
    assert fresh.json["run_id"] != run_id
    assert fresh.json["duplicate"] is False


def test_bodies_over_the_limit_get_413(herald: Herald) -> None:
    """A body over 1 MiB gets 413 problem+json, whether announced or chunked."""
    big = b'{"id": "evt_big", "pad": "' + b"x" * (1024 * 1024) + b'"}'
    answer = post(herald, big, "msg_big")
    assert answer.status == 413
    assert answer.headers["Content-Type"].startswith("application/problem+json")
    assert answer.json["type"] == "urn:herald:problem:body-too-large"

    def chunks() -> Iterator[bytes]:
        for _ in range(20):
            yield b"y" * (64 * 1024)

    connection = http.client.HTTPConnection(LOOPBACK, herald.http_port, timeout=10)
    try:
        connection.request(
            "POST",
            "/v1/events",
            body=chunks(),
            headers={"Content-Type": "application/json"},
            encode_chunked=True,
        )
        response = connection.getresponse()
        assert response.status == 413
        assert json.loads(response.read())["status"] == 413
    finally:
        connection.close()
    assert herald.request("GET", "/healthz").status == 200


def test_forged_signatures_are_refused(herald: Herald) -> None:
    """A future timestamp, a tampered body, another id, or a v1a scheme all get 401."""
    body = json.dumps(event()).encode()
    now = int(time.time())
    signed = standard_webhooks_headers(Herald.SECRET, body, "msg_forge", now)
    cases = {
        "future": standard_webhooks_headers(Herald.SECRET, body, "msg_forge", now + 600),
        "tampered": signed,
        "other id": {**signed, "webhook-id": "msg_other"},
        "other scheme": {
            **signed,
            "webhook-signature": signed["webhook-signature"].replace("v1,", "v1a,"),
        },
        "empty": {**signed, "webhook-signature": ""},
    }
    for name, headers in cases.items():
        sent = body.replace(b"ada@", b"eve@") if name == "tampered" else body
        answer = herald.request(
            "POST", "/v1/events", sent, {"Content-Type": "application/json", **headers}
        )
        assert answer.status == 401, name
        assert answer.json["type"] == "urn:herald:problem:invalid-signature", name


def test_one_good_signature_among_many_is_enough(herald: Herald) -> None:
    """Standard Webhooks lists several signatures; one valid among garbage is accepted."""
    body = json.dumps(event()).encode()
    headers = standard_webhooks_headers(Herald.SECRET, body, "msg_many", int(time.time()))
    headers["webhook-signature"] = f"v1,AAAA v1,{'B' * 44} {headers['webhook-signature']}"
    answer = herald.request(
        "POST", "/v1/events", body, {"Content-Type": "application/json", **headers}
    )
    assert answer.status == 202, answer.body


def test_header_injection_through_event_data_sends_nothing(
    herald: Herald, capture: Capture
) -> None:
    """CR/LF in data folded into the subject stays one header; a NUL is refused with 422."""
    folded = post(
        herald,
        json.dumps(event(invoice_number="INV-1\r\nBcc: leak@evil.test")).encode(),
        f"msg_{uuid.uuid4().hex}",
    )
    assert folded.status == 202
    [mail] = capture.wait_for_run(folded.json["run_id"])
    assert "leak@evil.test" not in mail.rcpt_tos
    assert mail.message["Bcc"] is None
    assert "\n" not in str(mail.message["Subject"])

    before = len(capture.received)
    nul = post(
        herald,
        json.dumps(event(invoice_number="INV-1\x00X")).encode(),
        f"msg_{uuid.uuid4().hex}",
    )
    assert nul.status == 422
    assert "Subject header must not contain CR, LF or NUL" in nul.json["detail"]
    assert herald.run(nul.json["run_id"])["status"] == "rejected"
    for field, value in (("name", "Ada\r\nBcc: leak@evil.test"), ("email", "ada@x.test\r\nBcc: y")):
        body = event()
        body["recipient"][field] = value
        answer = post(herald, json.dumps(body).encode(), f"msg_{uuid.uuid4().hex}")
        assert answer.status == 422, field
        assert answer.json["errors"][0]["pointer"] == f"#/recipient/{field}"
    assert len(capture.received) == before


def test_smtp_blind_copies_never_reach_relayed_headers(herald: Herald, capture: Capture) -> None:
    """Bcc, Resent-Bcc and a Bcc hidden behind a bare CR never appear upstream."""
    raw = (
        b"From: app@example.com\r\nTo: bob@example.com\r\n"
        b"bcc: hidden@example.com,\r\n\tother@example.com\r\n"
        b"Resent-Bcc: resent@example.com\r\n"
        b"Subject: quarterly\rBcc: smuggled@example.com\r\n"
        b"\r\nnumbers\r\n"
    )
    with herald.smtp() as client:
        client.ehlo("client.test")
        client.mail("app@example.com")
        for rcpt in ("bob@example.com", "hidden@example.com"):
            assert client.rcpt(rcpt)[0] == 250
        code, reply = client.data(raw)
    assert code == 250, reply
    [mail] = capture.wait_for_run(reply.decode().rsplit(" ", 1)[-1])
    assert mail.message["Bcc"] is None
    assert mail.message["Resent-Bcc"] is None
    for hidden in (b"hidden@", b"other@", b"resent@", b"smuggled@"):
        assert hidden not in mail.content
    assert "hidden@example.com" in mail.rcpt_tos
    assert not {"other@example.com", "resent@example.com", "smuggled@example.com"} & set(
        mail.rcpt_tos
    )


def test_smtp_header_with_nul_is_refused(herald: Herald, capture: Capture) -> None:
    """A raw message whose Subject carries NUL (or an encoded CR LF) gets 550 5.6.0,
    nothing queued."""
    before = len(capture.received)
    for subject in (b"hi\x00there", b"=?utf-8?q?hi=0D=0ABcc:_leak@evil.test?="):
        with herald.smtp() as client:
            client.ehlo("client.test")
            client.mail("app@example.com")
            client.rcpt("bob@example.com")
            code, reply = client.data(
                b"From: app@example.com\r\nSubject: " + subject + b"\r\n\r\nx\r\n"
            )
        assert code == 550, (subject, reply)
        assert b"5.6.0" in reply
    assert len(capture.received) == before
