"""Template sandbox escapes and hostile templates, attacked over the admin API,
the CLI and SMTP: each is refused with a clear error while the daemon keeps
answering everyone else, and its memory returns to where it was."""

from __future__ import annotations

import json
import smtplib
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from tests.integration.harness import Capture, Herald, Response

T = TypeVar("T")
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
PREVIEW = "/v1/templates/account.created/preview"

ESCAPES = [
    "{{ '{0.__class__}'.format(data) }}",
    "{{ '{0.__class__}'.format_map({'0': data}) }}",
    "{{ ('{0.__class__.__mro__}'|attr('format'))(data) }}",
    "{{ data|attr('__class__') }}",
    "{{ cycler.__init__.__globals__ }}",
]
RUNAWAY = [
    "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
    "{% for i in range(100000) %}{{ 'x' * 1000 }}{% endfor %}",
]
# Loops until the time limit: a render thread is busy for all of it.
LOOP = "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"
DEEP = "{{ " + "(" * 300 + "1" + ")" * 300 + " }}"
# Template texts that once froze the daemon (or answered a temporary 451),
# and the words of the limit each must be refused with.
HOSTILE_TEMPLATES = [
    (LOOP, "ran longer than 2s"),
    ("{{ lipsum(10**6)|length }}", "larger than 1000000 characters"),
    ("{{ lipsum(10**5) }}", "larger than 1000000 characters"),
    ("{{ 'a'.ljust(10**9) }}", "asked str.ljust for more than 1000000"),
    ("{% set b = 'x' * 1000000 %}{{ ([b] * 1000000)|join }}", "larger than 1000000 characters"),
    ("{{ '{:>{w}}'.format('x', w=10**9) }}", "width or precision is above"),
    ("{{ ('a' * 1000000)|replace('a', 'a' * 1000) }}", "larger than 1000000 characters"),
    (("{{ recipient.name }}" * 40 + "\n") * 1250, "over the limit of 262144"),
    ("{{ recipient.name }}\n" * 6000, "more than 5000 tags and expressions"),
    (("{{ recipient.name }}" * 49 + "\n") * 100, "more than 5000 tags and expressions"),
    (DEEP, "nests too deeply"),
]
LEGACY_DATA = json.dumps({"invoice_number": "INV-1", "amount": "1.00", "currency": "EUR"})


def versions(herald: Herald) -> object:
    return herald.admin("/v1/templates/account.created/versions").json


def rss(herald: Herald) -> int:
    """The daemon's resident memory in KiB, as the kernel counts it."""
    assert herald.process is not None
    status = Path(f"/proc/{herald.process.pid}/status").read_text(encoding="ascii")
    return next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:"))


def bystander_event() -> dict[str, object]:
    event: dict[str, object] = json.loads(
        (FIXTURES / "events" / "account.created.json").read_text()
    )
    event["id"] = f"evt_{uuid.uuid4().hex}"
    event["recipient"] = {
        "kind": "customer",
        "id": "cus_bystander",
        "name": "Bea Stander",
        "email": f"bystander-{uuid.uuid4().hex[:12]}@example.com",
    }
    return event


def during(herald: Herald, attack: Callable[[], T]) -> tuple[T, str]:
    """Run ``attack`` from another client; until it is answered (and at least
    three times), /healthz must answer 200 within a second, and a second
    client's event is accepted. The attack's answer, and the event's run."""
    with ThreadPoolExecutor(1) as attacker:
        answer = attacker.submit(attack)
        run_id = ""
        probes = 0
        while not answer.done() or probes < 3:
            started = time.monotonic()
            assert herald.request("GET", "/healthz").status == 200
            assert time.monotonic() - started < 1, "/healthz took a second or more"
            probes += 1
            if not run_id:
                started = time.monotonic()
                accepted = herald.post_event(bystander_event())
                assert accepted.status == 202, accepted.body
                assert time.monotonic() - started < 5, "the event took five seconds or more"
                run_id = accepted.json["run_id"]
        return answer.result(timeout=30), run_id


def preview(herald: Herald, source: str) -> Callable[[], Response]:
    return lambda: herald.admin(PREVIEW, method="POST", body={"text": source})


def legacy(herald: Herald, body: str, to: str) -> Callable[[], tuple[int, bytes]]:
    """Send a legacy message whose body is a template; the SMTP reply to DATA."""

    def send() -> tuple[int, bytes]:
        with herald.smtp() as smtp:
            try:
                smtp.sendmail(
                    "app@example.com",
                    [to],
                    f"From: app@example.com\r\nTo: {to}\r\nX-Herald-Type: invoice.issued\r\n"
                    f"X-Herald-Customer: cus_9\r\nX-Herald-Data: {LEGACY_DATA}\r\n"
                    f"Subject: Invoice\r\n\r\n{body.replace(chr(10), chr(13) + chr(10))}\r\n",
                )
            except smtplib.SMTPDataError as exc:
                error = exc.smtp_error
                return exc.smtp_code, error if isinstance(error, bytes) else error.encode()
        return 250, b""

    return send


def delivered_to_bystanders(herald: Herald, capture: Capture, runs: list[str]) -> None:
    """Every bystander's event reached the upstream as a mail client reads it."""
    for run_id in runs:
        assert herald.wait_for_status(run_id, "sent", timeout=30)["status"] == "sent"
        [mail] = capture.wait_for_run(run_id)
        message = mail.message
        assert message["To"].addresses[0].display_name == "Bea Stander"
        assert message["To"].addresses[0].addr_spec in mail.rcpt_tos
        assert message["Subject"].startswith("Welcome to")
        html = message.get_body(("html",))
        assert html is not None
        assert "Bea Stander" in html.get_content()


def test_sandbox_escapes_are_refused_and_nothing_is_saved_or_sent(
    herald: Herald, capture: Capture
) -> None:
    """Saving or previewing a template that reaches for Python internals answers
    422 naming the subject, saves no version and sends nothing."""
    before, sent = versions(herald), len(capture.received)
    for source in ESCAPES:
        body = {"subject": f"Hi {source}"}
        saved = herald.admin("/v1/templates/account.created", method="PUT", body=body)
        assert saved.status == 422, (source, saved.body)
        assert saved.headers["Content-Type"].startswith("application/problem+json")
        assert saved.json["errors"][0]["pointer"] == "#/subject"
        # The refusal names the part; it shows no Python object the template reached.
        assert "<class" not in saved.body.decode()
        assert "object at 0x" not in saved.body.decode()
        preview = herald.admin("/v1/templates/account.created/preview", method="POST", body=body)
        assert preview.status == 422, (source, preview.body)
    assert versions(herald) == before
    assert len(capture.received) == sent


def test_runaway_templates_fail_with_a_clear_error(herald: Herald) -> None:
    """A template that loops without end or builds huge output is refused with a
    message saying which limit it hit; the daemon keeps answering."""
    for source in RUNAWAY:
        answer = herald.admin(
            "/v1/templates/account.created/preview", method="POST", body={"text": source}
        )
        assert answer.status == 422, answer.body
        detail = answer.body.decode()
        assert "time" in detail or "size" in detail or "large" in detail or "long" in detail
    assert herald.request("GET", "/healthz").status == 200


def test_hostile_previews_are_refused_while_the_daemon_keeps_answering(
    herald: Herald, capture: Capture
) -> None:
    """Each hostile template previewed over the admin API is refused with 422
    naming its limit; while it is, /healthz answers within a second and a
    second client's event is accepted and delivered."""
    runs = []
    for source, limit in HOSTILE_TEMPLATES:
        answer, run_id = during(herald, preview(herald, source))
        assert answer.status == 422, (source[:60], answer.body[:300])
        assert answer.headers["Content-Type"].startswith("application/problem+json")
        assert limit in answer.json["detail"], (source[:60], answer.json["detail"])
        runs.append(run_id)
    delivered_to_bystanders(herald, capture, runs)


def test_hostile_legacy_mail_gets_550_while_the_daemon_keeps_answering(
    herald: Herald, capture: Capture
) -> None:
    """A legacy message whose body is a hostile template gets a permanent 550
    with an enhanced status code and the limit named (never 451), and is not
    relayed; while it is refused, /healthz answers within a second and a
    second client's event is accepted and delivered."""
    runs, refused = [], []
    for source, limit in HOSTILE_TEMPLATES:
        to = f"hostile-{uuid.uuid4().hex[:12]}@example.com"
        (code, reply), run_id = during(herald, legacy(herald, source, to))
        assert code == 550, (source[:60], code, reply)
        assert reply.startswith(b"5."), reply
        assert limit in reply.decode(), (source[:60], reply)
        runs.append(run_id)
        refused.append(to)
    delivered_to_bystanders(herald, capture, runs)
    assert not [mail for mail in capture.received if set(mail.rcpt_tos) & set(refused)]


def test_hostile_templates_are_refused_when_saved_on_every_way_in(
    herald: Herald, tmp_path: Path
) -> None:
    """Saving a template too deep, too complex or too long to compile, over
    the admin API, as a definition or with the CLI, is refused with the part
    named (422, or a one-line error and exit 1), and nothing is saved."""
    before = versions(herald)
    compile_faults = [(source, limit) for source, limit in HOSTILE_TEMPLATES[-4:]]
    for source, limit in [*compile_faults, HOSTILE_TEMPLATES[1]]:
        saved = herald.admin("/v1/templates/account.created", method="PUT", body={"text": source})
        assert saved.status == 422, saved.body[:300]
        assert saved.json["errors"][0]["pointer"] == "#/text"
        assert limit in saved.json["errors"][0]["detail"]
        path = tmp_path / "body.txt"
        path.write_text(source, encoding="utf-8")
        cli = herald.cli("templates", "set", "account.created", "--text", str(path))
        assert cli.returncode == 1, cli.stderr[-300:]
        assert limit in cli.stderr
        assert "Traceback" not in cli.stderr
    for source, limit in compile_faults:
        body = {
            "from_key": "billing",
            "recipient_key": "invoice",
            "clusters": ["eu"],
            "subject": "Invoice",
            "text": source,
        }
        answer = herald.admin("/v1/definitions/hostile", method="PUT", body=body)
        assert answer.status == 422, answer.body[:300]
        assert answer.json["errors"][0]["pointer"] == "#/text"
        assert limit in answer.json["errors"][0]["detail"]
    assert versions(herald) == before
    assert herald.admin("/v1/definitions/hostile").status == 404


def test_memory_returns_to_where_it_was_after_hostile_templates(herald: Herald) -> None:
    """Three rounds of every hostile template, previewed and sent as legacy
    mail, leave the daemon's resident memory within a small margin of what it
    was after the same ways in had served ordinary templates."""
    ordinary = "{{ lipsum(2) }}{{ 'a'.ljust(9) }}{{ ['a', 'b']|join(',') }}{{ recipient.name }}"
    assert herald.admin(PREVIEW, method="POST", body={"text": ordinary}).status == 200
    to = f"ordinary-{uuid.uuid4().hex[:12]}@example.com"
    assert legacy(herald, ordinary, to)() == (250, b"")
    before = rss(herald)
    for _ in range(3):
        # All but the first, which allocates nothing and only takes time.
        for source, _limit in HOSTILE_TEMPLATES[1:]:
            assert herald.admin(PREVIEW, method="POST", body={"text": source}).status == 422
            assert legacy(herald, source, to)()[0] == 550
    after = rss(herald)
    assert after - before < 32 * 1024, f"resident memory grew from {before} KiB to {after} KiB"
