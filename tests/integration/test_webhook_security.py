"""The webhook and message content under attack: replays, floods, forged
signatures, header injection and blind copies."""

from __future__ import annotations

import http.client
import json
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tests.integration.harness import (
    LOOPBACK,
    Capture,
    Herald,
    standard_webhooks_headers,
    wait_until,
)

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
    """CR/LF in data folded into the subject stays one header; a NUL is refused with
    422 before the answer, though the body is composed after it."""
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


def run_count(herald: Herald) -> int:
    return len(herald.admin("/v1/runs?limit=200").json["runs"])


def raw_log_lines(herald: Herald) -> list[str]:
    """Lines of the daemon's log that are not one JSON event each."""
    lines = []
    for line in herald.log().splitlines():
        try:
            json.loads(line)
        except ValueError:
            lines.append(line)
    return lines


def test_hostile_signature_headers_get_4xx_before_anything_else(herald: Herald) -> None:
    """A 400-digit timestamp, and a webhook-id or signature of bytes that are not UTF-8,
    get 401 or 400, never 500, and no run."""
    body = json.dumps(event()).encode()
    signed = standard_webhooks_headers(Herald.SECRET, body, "msg_hostile", int(time.time()))
    before = run_count(herald)
    # urllib sends header text as Latin-1, so "\xff" leaves as the byte 0xFF.
    cases = {
        "timestamp": ({"webhook-timestamp": "9" * 400}, 401, "invalid-signature"),
        "id": ({"webhook-id": "msg_\xff\xfe"}, 400, "invalid-header"),
        "signature": ({"webhook-signature": "v1,\xff\xfe=="}, 401, "invalid-signature"),
    }
    for name, (override, status, kind) in cases.items():
        answer = herald.request(
            "POST", "/v1/events", body, {"Content-Type": "application/json", **signed, **override}
        )
        assert answer.status == status, (name, answer.body)
        assert answer.json["type"] == f"urn:herald:problem:{kind}", name
    assert run_count(herald) == before
    assert "http_handler_failed" not in herald.log()


def test_a_non_ascii_webhook_id_signed_as_utf8_is_accepted(
    herald: Herald, capture: Capture
) -> None:
    """A printable webhook-id beyond ASCII, signed over its UTF-8 bytes, works as any."""
    body = json.dumps(event()).encode()
    msg_id = f"msg_\u00e9t\u00e9_{uuid.uuid4().hex}"
    headers = standard_webhooks_headers(Herald.SECRET, body, msg_id, int(time.time()))
    # The header goes out as its UTF-8 bytes, as a sender writes it.
    headers["webhook-id"] = msg_id.encode().decode("latin-1")
    answer = herald.request(
        "POST", "/v1/events", body, {"Content-Type": "application/json", **headers}
    )
    assert answer.status == 202, answer.body
    [mail] = capture.wait_for_run(answer.json["run_id"])
    assert mail.message["To"].addresses[0].addr_spec == "ada@example.com"
    again = herald.request(
        "POST", "/v1/events", body, {"Content-Type": "application/json", **headers}
    )
    assert again.json == {"run_id": answer.json["run_id"], "status": "duplicate", "duplicate": True}


def hostile_event(field: str, raw: bytes) -> bytes:
    """A valid event whose ``field`` (``data.x``, ``id`` or ``type``) is the raw JSON ``raw``."""
    body = event()
    if field.startswith("data."):
        body["data"][field.removeprefix("data.")] = "@@@"
    else:
        body[field] = "@@@"
    return json.dumps(body).encode().replace(b'"@@@"', raw)


def test_hostile_json_bodies_get_4xx_naming_the_place(herald: Herald) -> None:
    """Nesting 1,000 deep, a 5,000-digit integer, NaN, Infinity, lone surrogates in id and
    type, and bytes that are not UTF-8 get 400 or 422 naming where, on every store; no run."""
    cases = [
        (hostile_event("data.x", b"[" * 1000 + b"]" * 1000), 400, "malformed-body", None),
        (hostile_event("data.amount", b"9" * 5000), 422, "invalid-event", "#/data/amount"),
        (hostile_event("data.total", b"NaN"), 422, "invalid-event", "#/data/total"),
        (hostile_event("data.total", b"-Infinity"), 422, "invalid-event", "#/data/total"),
        (hostile_event("data.total", b"1e400"), 422, "invalid-event", "#/data/total"),
        (hostile_event("id", b'"evt_\\ud800"'), 422, "invalid-event", "#/id"),
        (hostile_event("type", b'"invoice.\\udfff"'), 422, "invalid-event", "#/type"),
        (hostile_event("data.x", '"caf\u00e9"'.encode("latin-1")), 400, "malformed-body", None),
        (hostile_event("data.x", b'"\xed\xa0\x80"'), 400, "malformed-body", None),
    ]
    before = run_count(herald)
    for body, status, kind, pointer in cases:
        answer = post(herald, body, f"msg_{uuid.uuid4().hex}")
        assert answer.status == status, (body[:80], answer.body)
        assert answer.headers["Content-Type"].startswith("application/problem+json")
        assert answer.json["type"] == f"urn:herald:problem:{kind}"
        if pointer:
            assert answer.json["errors"][0]["pointer"] == pointer
        else:
            assert "line 1 column" in answer.json["detail"]
    assert run_count(herald) == before
    assert "http_handler_failed" not in herald.log()


def test_an_event_not_sent_as_json_gets_415(herald: Herald, capture: Capture) -> None:
    """text/plain or no Content-Type gets 415 and no run; JSON with a charset or +json is read."""
    before = run_count(herald)
    for content_type in ("text/plain", None, "application/x-www-form-urlencoded"):
        body = json.dumps(event()).encode()
        headers = standard_webhooks_headers(
            Herald.SECRET, body, f"msg_{uuid.uuid4().hex}", int(time.time())
        )
        if content_type:
            headers["Content-Type"] = content_type
        # http.client (source=) adds no Content-Type of its own, as urllib would.
        answer = herald.request("POST", "/v1/events", body, headers, source=LOOPBACK)
        assert answer.status == 415, content_type
        assert answer.json["type"] == "urn:herald:problem:unsupported-media-type"
    assert run_count(herald) == before
    for content_type in ("application/json; charset=utf-8", "application/cloudevents+json"):
        body = json.dumps(event()).encode()
        headers = standard_webhooks_headers(
            Herald.SECRET, body, f"msg_{uuid.uuid4().hex}", int(time.time())
        )
        answer = herald.request(
            "POST", "/v1/events", body, {"Content-Type": content_type, **headers}
        )
        assert answer.status == 202, (content_type, answer.body)
        [mail] = capture.wait_for_run(answer.json["run_id"])
        assert "INV-2026-0042" in str(mail.message["Subject"])


def test_requests_aiohttp_refuses_are_logged_as_one_json_event(herald: Herald) -> None:
    """A header aiohttp cannot parse gets 400 and one JSON event in the log, never a traceback."""
    with socket.create_connection((LOOPBACK, herald.http_port), timeout=10) as sock:
        sock.sendall(
            b"POST /v1/events HTTP/1.1\r\nHost: herald.test\r\nContent-Length: abc\r\n\r\n"
        )
        answer = sock.recv(4096)
    assert answer.split(b" ", 2)[1] == b"400", answer
    [logged] = wait_until(
        lambda: [
            e
            for e in herald.events("http_request_malformed")
            if e["reason"] == "Invalid character in Content-Length"
        ],
        10,
        "the malformed request in the log",
    )
    assert logged["status"] == 400
    assert logged["peer"] == LOOPBACK
    assert raw_log_lines(herald) == []
