"""Header injection through RFC 2047 encoded words, on every way in, over real sockets.

Each example of the hostile-input report gets its refusal (422 naming the
field, a one-line CLI error naming the line, SMTP 550 5.6.0) and nothing
reaches the upstream. Property tests then drive every text field of every
input with encoded words in Q and B, folded and unfolded: what reaches the
capture upstream has exactly the headers Herald meant to write and no Bcc,
and whatever decodes to a line break is refused with nothing recorded.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from email.parser import BytesHeaderParser
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, note, settings
from hypothesis import strategies as st

from tests.encoded_words import EVIL, Payload, encode, payloads
from tests.integration.harness import Capture, Captured, Herald, Response, multipart, wait_until

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "events"
# Each property test drives the live daemon; every example is a round trip.
LIVE = settings(max_examples=60, deadline=None, database=None)
# A generous bound on waiting for a run: the machine may be busy with more than this.
WAIT = 30.0

CRLF_BCC = f"=?utf-8?q?Ada=0D=0ABcc:_{EVIL}?="
FORGED_BODY = f"=?utf-8?q?Ada=0D=0AReply-To:_{EVIL}=0D=0A=0D=0AForged_body?="
B_BCC = encode(f"Ada\r\nBcc: {EVIL}".encode(), "b")


def spaced(text: str) -> str:
    """``text`` with its white space as a header shows it: trimmed, single."""
    return " ".join(text.split())


def names(mail: Captured) -> list[str]:
    """The header names of what the upstream received, in order, as it reads them."""
    head = mail.content.partition(b"\r\n\r\n")[0] + b"\r\n\r\n"
    return [name.lower() for name in BytesHeaderParser().parsebytes(head)]


def event(kind: str = "account.created", **recipient: str) -> dict[str, Any]:
    body: dict[str, Any] = json.loads((FIXTURES / f"{kind}.json").read_text(encoding="utf-8"))
    body["id"] = f"evt_{uuid.uuid4().hex}"
    body["recipient"] = {**body["recipient"], **recipient}
    return body


def latest_run(herald: Herald) -> str | None:
    runs = herald.admin("/v1/runs?limit=1").json["runs"]
    return runs[0]["id"] if runs else None


def delivered(herald: Herald, capture: Capture, run_id: str) -> Captured:
    """The one message of ``run_id``, once the run is sent."""
    herald.wait_for_status(run_id, "sent", timeout=WAIT)
    [mail] = capture.wait_for_run(run_id, timeout=WAIT)
    return mail


def sentinel(herald: Herald, capture: Capture) -> Captured:
    """Send a plain event and wait for it: whatever was refused before it and
    had been queued would be upstream by now, since the queue is one."""
    answer = herald.post_event(event(name="Sentinel"))
    assert answer.status == 202, answer.body
    return delivered(herald, capture, answer.json["run_id"])


def assert_nothing_else_arrived(herald: Herald, capture: Capture, before: int) -> None:
    mail = sentinel(herald, capture)
    assert capture.received[before:] == [mail]


def smtp_send(herald: Herald, raw: bytes, rcpt: str = "bob@hdr.test") -> tuple[int, bytes]:
    with herald.smtp() as client:
        client.ehlo("client.test")
        client.mail("app@hdr.test")
        assert client.rcpt(rcpt)[0] == 250
        return client.data(raw)


# What a refused change must leave as it was.
SAVED = ("/v1/audit", "/v1/brand", "/v1/senders", "/v1/templates/account.created/versions")


def addresses(message: Any, name: str) -> list[str]:
    return [a.addr_spec for a in message[name].addresses] if name in message else []


# The report's examples


@pytest.mark.parametrize("name", [CRLF_BCC, FORGED_BODY, B_BCC])
def test_an_event_whose_recipient_name_hides_a_header_gets_422(
    herald: Herald, capture: Capture, name: str
) -> None:
    """The reported recipient names (a Bcc, a Reply-To with a forged body) are
    refused with 422 naming #/recipient/name; no run is made, nothing is sent."""
    before = len(capture.received)
    answer = herald.post_event(event(name=name))
    assert answer.status == 422, answer.body
    assert answer.headers["Content-Type"].startswith("application/problem+json")
    assert [e["pointer"] for e in answer.json["errors"]] == ["#/recipient/name"]
    assert "encoded word" in answer.json["errors"][0]["detail"]
    assert "run_id" not in answer.json
    assert_nothing_else_arrived(herald, capture, before)


@pytest.mark.parametrize(
    "header",
    [
        f"To: {CRLF_BCC} <bob@hdr.test>",
        f"To: bob@hdr.test\r\nCc: carol@hdr.test,\r\n {B_BCC} <dan@hdr.test>",
        f"To: bob@hdr.test\r\nSubject: quarterly\r\n {FORGED_BODY}",
    ],
)
def test_a_legacy_message_hiding_a_header_gets_550_5_6_0(
    herald: Herald, capture: Capture, header: str
) -> None:
    """A To or Cc display name, or a folded Subject, whose encoded word decodes to
    CR LF gets 550 5.6.0 (permanent: the app must not retry it), never 451."""
    before = len(capture.received)
    latest = latest_run(herald)
    code, reply = smtp_send(herald, f"From: app@hdr.test\r\n{header}\r\n\r\nhello\r\n".encode())
    assert (code, reply[:5]) == (550, b"5.6.0"), reply
    assert b"must not contain CR, LF or NUL" in reply
    assert latest_run(herald) == latest
    assert_nothing_else_arrived(herald, capture, before)


def test_legacy_data_rendering_an_unsafe_subject_gets_550_5_6_0(
    herald: Herald, capture: Capture
) -> None:
    """X-Herald-Data whose value (JSON-escaped, so no encoded word is visible in
    the raw header) renders an encoded CR LF into the subject is refused by the
    queue's entrance with 550 5.6.0, and the run is recorded as rejected."""
    before = len(capture.received)
    hidden = "\\u003d?utf-8?q?INV=0D=0ABcc:_" + EVIL + "?="
    raw = (
        "From: app@hdr.test\r\nTo: Bob <bob@hdr.test>\r\nX-Herald-Type: invoice.issued\r\n"
        "X-Herald-Customer: cus_1\r\n"
        f'X-Herald-Data: {{"invoice_number": "{hidden}", "amount": "1.00", "currency": "EUR"}}\r\n'
        "Subject: Invoice {{ data.invoice_number }}\r\n\r\nYou owe {{ data.amount }}.\r\n"
    ).encode()
    code, reply = smtp_send(herald, raw)
    assert (code, reply[:5]) == (550, b"5.6.0"), reply
    assert b"the Subject header must not contain CR, LF or NUL" in reply
    rejected = herald.admin("/v1/runs?status=rejected&type=invoice.issued&limit=1").json["runs"]
    assert rejected
    assert "Subject header" in (herald.run(rejected[0]["id"])["error"] or "")
    assert_nothing_else_arrived(herald, capture, before)


def test_a_dry_run_says_the_queue_would_refuse_the_message(herald: Herald) -> None:
    """The dry run holds the message to the queue's entrance too: data that
    puts a NUL in the subject is a "reject" naming the header, and nothing is
    recorded."""
    body = event("invoice.issued")
    body["data"]["invoice_number"] = "INV-1\x00"
    latest = latest_run(herald)
    answer = herald.admin_send("POST", "/v1/delivery/dry-run", body)
    assert answer.status == 200, answer.body
    assert answer.json["decision"] == "reject"
    assert answer.json["reason"] == "the Subject header must not contain CR, LF or NUL"
    assert not any(r["receives"] for r in answer.json["recipients"])
    assert latest_run(herald) == latest


def test_a_customer_import_names_the_line_of_a_hidden_header(
    herald: Herald, tmp_path: Path
) -> None:
    """`herald customers import` refuses a file with a customer whose name hides a
    Bcc, with one line naming the line and field, and imports none of it. The
    API refuses the same line with 422."""
    good = {"id": "imp_good", "name": "Acme", "addresses": {"invoice": "acme@hdr.test"}}
    bad = {"id": "imp_bad", "name": CRLF_BCC, "addresses": {"invoice": "bad@hdr.test"}}
    lines = tmp_path / "customers.jsonl"
    lines.write_text(f"{json.dumps(good)}\n{json.dumps(bad)}\n", encoding="utf-8")
    result = herald.cli("customers", "import", str(lines))
    assert result.returncode == 1
    [line] = result.stderr.splitlines()
    assert line.startswith("herald: line 2 #/name: the name must not contain CR, LF or NUL")
    assert "nothing was imported" in line
    assert "Traceback" not in result.stderr
    assert herald.admin("/v1/customers/imp_good").status == 404
    assert herald.admin("/v1/customers/imp_bad").status == 404
    answer = herald.admin_send(
        "POST", "/v1/customers", json.dumps(bad).encode(), content_type="application/x-ndjson"
    )
    assert answer.status == 422, answer.body
    assert "line 1" in answer.json["detail"]
    assert herald.admin("/v1/customers/imp_bad").status == 404


@pytest.mark.parametrize(
    ("path", "method", "body", "pointer"),
    [
        ("/v1/brand", "PATCH", {"name": CRLF_BCC}, "#/name"),
        ("/v1/brand", "PATCH", {"footer": f"Acme\n{B_BCC}"}, "#/footer"),
        ("/v1/senders/hdr-bad", "PUT", {"address": "x@hdr.test", "name": CRLF_BCC}, "#/name"),
        ("/v1/templates/account.created", "PUT", {"subject": f"Welcome {CRLF_BCC}"}, "#/subject"),
        (
            "/v1/definitions/hdr-bad",
            "PUT",
            {
                "from_key": "hdr",
                "recipient_key": "invoice",
                "clusters": ["hdr"],
                "subject": f"Invoice {B_BCC}",
                "text": "x",
            },
            "#/subject",
        ),
        (
            "/v1/smtp/test",
            "POST",
            {"from": "notify@herald.test", "to": "t@hdr.test", "subject": FORGED_BODY},
            "#/subject",
        ),
    ],
)
def test_saved_settings_that_would_break_every_email_are_refused_when_saved(
    staged: Herald,
    capture: Capture,
    path: str,
    method: str,
    body: dict[str, Any],
    pointer: str,
) -> None:
    """A brand value, a sender name, a template or definition subject, or a test
    message's subject hiding a header is refused with 422 naming it; nothing is
    saved, and the next email goes out as before."""
    saved = [staged.admin(p).json for p in SAVED]
    before = len(capture.received)
    answer = staged.admin_send(method, path, body)
    assert answer.status == 422, answer.body
    assert [e["pointer"] for e in answer.json["errors"]] == [pointer]
    assert "must not contain CR, LF or NUL" in answer.json["errors"][0]["detail"]
    assert [staged.admin(p).json for p in SAVED] == saved
    assert staged.admin("/v1/definitions/hdr-bad").status == 404
    mail = sentinel(staged, capture)
    assert capture.received[before:] == [mail]
    assert str(mail.message["Subject"]).startswith("Welcome to Herald")


@pytest.mark.parametrize(
    "args",
    [
        ("brand", "set", "name", CRLF_BCC),
        ("senders", "set", "hdr-cli", "--address", "x@hdr.test", "--name", B_BCC),
    ],
)
def test_the_cli_refuses_a_hidden_header_in_one_line(staged: Herald, args: tuple[str, ...]) -> None:
    """The CLI says what is wrong in one line, exits 1 and saves nothing."""
    audit = staged.admin("/v1/audit").json
    result = staged.cli(*args)
    assert result.returncode == 1
    [line] = result.stderr.splitlines()
    assert line.startswith("herald: name: ")
    assert "encoded word" in line
    assert staged.admin("/v1/audit").json == audit


def test_a_template_file_hiding_a_header_is_refused_by_the_cli(
    staged: Herald, tmp_path: Path
) -> None:
    """`herald templates set` names the subject and says nothing was saved."""
    subject = tmp_path / "subject.txt"
    subject.write_text(f"Welcome {CRLF_BCC}\n", encoding="utf-8")
    result = staged.cli("templates", "set", "account.created", "--subject", str(subject))
    assert result.returncode == 1
    assert result.stderr.splitlines()[0].startswith(
        "herald: subject: the Subject header must not contain CR, LF or NUL"
    )
    assert "nothing was saved for account.created" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_definition_run_fails_only_the_message_the_entrance_refuses(
    staged: Herald, capture: Capture
) -> None:
    """A batch whose invoice data renders a hidden Bcc into one customer's
    subject: that item fails with the header named and nothing of it is sent;
    the other customer's message arrives with exactly its headers."""
    run_id = start_run(staged, {"hdr_1": "INV-1", "hdr_2": f"INV-2 {CRLF_BCC}"})
    run = staged.wait_for_status(run_id, "partial", timeout=WAIT)
    errors = {item["address"]: (item["status"], item["error"]) for item in run["items"]}
    assert errors["acme@hdr.test"] == ("sent", None)
    status, error = errors["globex@hdr.test"]
    assert status == "failed"
    assert error.startswith("not composed: the Subject header must not contain CR, LF or NUL")
    [mail] = capture.wait_for_run(run_id, timeout=WAIT)
    assert mail.rcpt_tos == ["acme@hdr.test"]
    assert names(mail) == DEFINITION_HEADERS
    assert str(mail.message["Subject"]) == "Invoice INV-1 R-1"


# The way the tests below stage a definition run


DEFINITION_HEADERS = [
    "from",
    "to",
    "subject",
    "date",
    "message-id",
    "mime-version",
    "content-type",
    "content-transfer-encoding",
]
CUSTOMERS = {
    "hdr_1": {"name": "Acme", "fields": {"ref": "R-1"}, "invoice": "acme@hdr.test"},
    "hdr_2": {"name": "Globex", "fields": {"ref": "R-2"}, "invoice": "globex@hdr.test"},
}
DEFINITION = {
    "from_key": "hdr",
    "recipient_key": "invoice",
    "clusters": ["hdr"],
    "subject": "Invoice {{ invoice.number }} {{ customer.fields.ref }}",
    "text": "Dear {{ customer.name }}",
}


def put_customer(herald: Herald, ident: str, **changes: Any) -> Response:
    known = CUSTOMERS[ident]
    line = {
        "id": ident,
        "name": known["name"],
        "fields": known["fields"],
        "clusters": ["hdr"],
        "addresses": {"invoice": known["invoice"]},
    } | changes
    return herald.admin_send(
        "POST", "/v1/customers", json.dumps(line).encode(), content_type="application/x-ndjson"
    )


def start_run(herald: Herald, numbers: dict[str, str]) -> str:
    """Run the definition for a new batch giving each customer its invoice number."""
    fields = [("batch", uuid.uuid4().hex.encode())]
    fields += [(f"{c}/data.json", json.dumps({"number": n}).encode()) for c, n in numbers.items()]
    body, content_type = multipart(fields)
    answer = herald.admin_send(
        "POST", "/v1/definitions/hdr-invoice/runs", body, content_type=content_type
    )
    assert answer.status == 202, answer.body
    run_id: str = answer.json["run_id"]
    return run_id


@pytest.fixture(scope="module")
def staged(herald: Herald) -> Herald:
    """A sender, two customers and a definition for the tests to run."""
    assert herald.admin_send("PUT", "/v1/senders/hdr", {"address": "hdr@herald.test"}).ok
    for ident in CUSTOMERS:
        assert put_customer(herald, ident).status == 200
    assert herald.admin_send("PUT", "/v1/definitions/hdr-invoice", DEFINITION).status == 200
    return herald


# Properties: every text field of every input


@LIVE
@given(
    field=st.sampled_from(["name", "id", "email", "data"]),
    payload=payloads(),
    folded=st.booleans(),
)
def test_every_event_field_reaching_a_header(
    herald: Herald, capture: Capture, field: str, payload: Payload, folded: bool
) -> None:
    """Encoded words in the recipient's name, id or address, or in data the
    subject uses: refused with 422 naming the field exactly when they decode to
    a break (or, outside data, when folded); otherwise the email arrives with
    the headers and recipients of a plain one, the name as meant, and no Bcc."""
    note(f"{field=} {payload=} {folded=}")
    body = event("invoice.issued")
    written = payload.folded if folded else payload.unfolded
    if field == "data":
        pointer = "#/data/invoice_number"
        body["data"]["invoice_number"] = written
    elif field == "email":
        # Glued, the words make a dot-atom; RFC 2047 §5 forbids them there at all.
        pointer = "#/recipient/email"
        body["recipient"]["email"] = f"{payload.glued}@hdr.test"
    else:
        pointer = f"#/recipient/{field}"
        body["recipient"][field] = written
    latest = latest_run(herald)
    answer = herald.post_event(body)
    own_break = "\n" in written and field != "data"
    if payload.hostile or field == "email" or own_break:
        assert answer.status == 422, answer.body
        assert pointer in [e["pointer"] for e in answer.json["errors"]]
        assert latest_run(herald) == latest
        return
    assert answer.status == 202, answer.body
    mail = delivered(herald, capture, answer.json["run_id"])
    plain = baseline(herald, capture, "event")
    assert names(mail) == names(plain)
    assert mail.message["Bcc"] is None
    recipient = body["recipient"]["email"]
    assert sorted(mail.rcpt_tos) == sorted(
        recipient if r == "ada@example.com" else r for r in plain.rcpt_tos
    )
    [to] = mail.message["To"].addresses
    assert to.addr_spec == recipient
    if field == "name":
        assert spaced(to.display_name) == spaced(payload.text)


SMTP_HEADERS = {
    "To": "To: {} <bob@hdr.test>",
    "Cc": "To: bob@hdr.test\r\nCc: carol@hdr.test,\r\n {} <dan@hdr.test>",
    "Reply-To": "To: bob@hdr.test\r\nReply-To: {} <reply@hdr.test>",
    "Subject": "To: bob@hdr.test\r\nSubject: {}",
    "X-Note": "To: bob@hdr.test\r\nX-Note: {}",
    "Content-Disposition": 'To: bob@hdr.test\r\nContent-Disposition: inline; filename="{}"',
}


@LIVE
@given(header=st.sampled_from(sorted(SMTP_HEADERS)), payload=payloads(), folded=st.booleans())
def test_every_header_of_a_legacy_message(
    herald: Herald, capture: Capture, header: str, payload: Payload, folded: bool
) -> None:
    """Encoded words in any header of a raw message, folded or not: 550 5.6.0
    with nothing recorded exactly when they decode to a break; otherwise 250 and
    the upstream gets the same headers and recipients as for a plain value."""
    note(f"{header=} {payload=} {folded=}")
    raw = "From: app@hdr.test\r\n" + SMTP_HEADERS[header] + "\r\n\r\nhello\r\n"
    words = payload.folded if folded else payload.unfolded
    latest = latest_run(herald)
    code, reply = smtp_send(herald, raw.format(words).encode())
    if payload.hostile:
        assert (code, reply[:5]) == (550, b"5.6.0"), reply
        assert latest_run(herald) == latest
        return
    assert code == 250, reply
    mail = delivered(herald, capture, reply.decode().rsplit(" ", 1)[-1])
    plain = baseline(herald, capture, f"smtp {header}")
    assert names(mail) == names(plain)
    assert mail.message["Bcc"] is None
    assert sorted(mail.rcpt_tos) == sorted(plain.rcpt_tos)
    for name in ("To", "Cc", "Reply-To"):
        assert addresses(mail.message, name) == addresses(plain.message, name)


@dataclass(frozen=True)
class Setting:
    """A saved value that reaches a header: how to save it, whether a line
    break of its own is refused too, the email it shows in, and how to undo it."""

    save: Callable[[Herald, str], Response]
    one_line: bool
    # None: the save itself sends the message (a test message).
    send: Callable[[Herald, Capture], Captured] | None
    undo: Callable[[Herald], object]
    pointer: str


def _definition_email(herald: Herald, capture: Capture) -> Captured:
    """The first customer's message of a new run of the definition."""
    run_id = start_run(herald, {"hdr_1": "INV-1", "hdr_2": "INV-2"})
    herald.wait_for_status(run_id, "sent", timeout=WAIT)
    mails = capture.wait_for_run(run_id, count=2, timeout=WAIT)
    [mail] = [m for m in mails if m.rcpt_tos == ["acme@hdr.test"]]
    return mail


def _event_email(herald: Herald, capture: Capture) -> Captured:
    answer = herald.post_event(event(name="Ada"))
    assert answer.status == 202, answer.body
    return delivered(herald, capture, answer.json["run_id"])


TEST_TO = "test@hdr.test"


def _smtp_test(herald: Herald, text: str) -> Response:
    return herald.admin_send(
        "POST", "/v1/smtp/test", {"from": "notify@herald.test", "to": TEST_TO, "subject": text}
    )


def _test_email(capture: Capture, before: int, answer: Response) -> Captured:
    """The test message the upstream took after ``before`` messages."""
    assert answer.json["ok"] is True, answer.body
    mails: list[Captured] = wait_until(
        lambda: [c for c in capture.received[before:] if c.rcpt_tos == [TEST_TO]], WAIT
    )
    [mail] = mails
    return mail


SETTINGS = {
    "sender name": Setting(
        lambda h, t: h.admin_send(
            "PUT", "/v1/senders/hdr", {"address": "hdr@herald.test", "name": t}
        ),
        True,
        _definition_email,
        lambda h: h.admin_send("PUT", "/v1/senders/hdr", {"address": "hdr@herald.test"}),
        "#/name",
    ),
    "customer name": Setting(
        lambda h, t: put_customer(h, "hdr_1", name=t),
        True,
        _definition_email,
        lambda h: put_customer(h, "hdr_1"),
        "line 1 #/name",
    ),
    "customer field": Setting(
        lambda h, t: put_customer(h, "hdr_1", fields={"ref": t}),
        False,
        _definition_email,
        lambda h: put_customer(h, "hdr_1"),
        "line 1 #/fields/ref",
    ),
    "definition subject": Setting(
        lambda h, t: h.admin_send(
            "PUT", "/v1/definitions/hdr-invoice", DEFINITION | {"subject": f"Invoice {t}"}
        ),
        False,
        _definition_email,
        lambda h: h.admin_send("PUT", "/v1/definitions/hdr-invoice", DEFINITION),
        "#/subject",
    ),
    "brand name": Setting(
        lambda h, t: h.admin_send("PATCH", "/v1/brand", {"name": t}),
        True,
        _event_email,
        lambda h: h.admin_send("PATCH", "/v1/brand", {"name": None}),
        "#/name",
    ),
    "template subject": Setting(
        lambda h, t: h.admin_send("PUT", "/v1/templates/account.created", {"subject": f"Hi {t}"}),
        False,
        _event_email,
        lambda h: h.admin_send("POST", "/v1/templates/account.created/reset", {}),
        "#/subject",
    ),
    "test message subject": Setting(_smtp_test, True, None, lambda h: None, "#/subject"),
}


@LIVE
@given(setting=st.sampled_from(sorted(SETTINGS)), payload=payloads(), folded=st.booleans())
def test_every_saved_value_reaching_a_header(
    staged: Herald, capture: Capture, setting: str, payload: Payload, folded: bool
) -> None:
    """Encoded words in a sender or customer name, a customer field, a definition
    or template subject, the brand name or a test message's subject: refused when
    saved (422 naming it, nothing changed) exactly when they decode to a break
    (or, for one-line values, when folded); otherwise the email made with the
    value arrives with the headers of one made with a plain value, and no Bcc."""
    note(f"{setting=} {payload=} {folded=}")
    way = SETTINGS[setting]
    text = payload.folded if folded else payload.unfolded
    audit = staged.admin("/v1/audit?limit=1").json
    before = len(capture.received)
    answer = way.save(staged, text)
    try:
        if payload.hostile or ("\n" in text and way.one_line):
            assert answer.status == 422, answer.body
            assert [e["pointer"] for e in answer.json["errors"]] == [way.pointer]
            assert staged.admin("/v1/audit?limit=1").json == audit
            return
        assert answer.ok, answer.body
        if way.send is None:
            mail = _test_email(capture, before, answer)
            before = len(capture.received)
            plain = _test_email(capture, before, way.save(staged, "Plain"))
        else:
            mail = way.send(staged, capture)
            way.undo(staged)
            plain = way.send(staged, capture)
        assert names(mail) == names(plain)
        assert mail.message["Bcc"] is None
        assert len(mail.rcpt_tos) == len(plain.rcpt_tos)
    finally:
        way.undo(staged)


_BASELINES: dict[str, Captured] = {}


def baseline(herald: Herald, capture: Capture, kind: str) -> Captured:
    """The email a plain value makes on the same way in, made once."""
    if kind not in _BASELINES:
        if kind == "event":
            answer = herald.post_event(event("invoice.issued"))
            assert answer.status == 202, answer.body
            _BASELINES[kind] = delivered(herald, capture, answer.json["run_id"])
        else:
            header = kind.removeprefix("smtp ")
            raw = "From: app@hdr.test\r\n" + SMTP_HEADERS[header] + "\r\n\r\nhello\r\n"
            code, reply = smtp_send(herald, raw.format("Plain").encode())
            assert code == 250, reply
            _BASELINES[kind] = delivered(herald, capture, reply.decode().rsplit(" ", 1)[-1])
    return _BASELINES[kind]
