"""Fault tests: a real daemon against an upstream that misbehaves on purpose,
a store that runs out of room, and kill -9 in the middle of a burst."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import signal
import smtplib
import socket
import sqlite3
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from gateway.signing import verify
from gateway.store._postgres import split_url
from tests import stores
from tests.integration.harness import (
    DROP,
    LOOPBACK,
    STALL,
    CallbackServer,
    Capture,
    Herald,
    free_port,
    standard_webhooks_headers,
    wait_until,
)
from tests.integration.test_end_to_end import accepted, event

# These faults are the upstream's or the listeners', whatever the store: they
# run in the SQLite pass only. The crash tests run on both stores.
upstream_fault = pytest.mark.skipif(
    stores.KIND != "sqlite", reason="store-independent: runs in the SQLite pass"
)

FAST = """
[queue]
retry_initial = "0.3s"
retry_max = "1s"
poll_interval = "0.2s"
lifetime = "1h"
"""


@pytest.fixture
def capture() -> Iterator[Capture]:
    server = Capture().start()
    yield server
    server.stop()


def smtp_message(herald: Herald, subject: str, to: str = "bob@example.com") -> str:
    """Send one legacy message; return the run id from the 250 reply."""
    with herald.smtp() as client:
        client.ehlo()
        client.mail("app@example.com")
        client.rcpt(to)
        code, reply = client.data(
            f"From: app@example.com\r\nTo: {to}\r\nSubject: {subject}\r\n\r\nbody\r\n".encode()
        )
    assert code == 250, reply
    return reply.decode().rsplit(" ", 1)[-1]


def history(run: dict[str, Any]) -> list[str]:
    return [entry["event"] for entry in run["history"]]


@upstream_fault
@pytest.mark.parametrize(
    ("where", "reply", "recorded"),
    [
        ("mail", "421 4.3.2 Service shutting down", "421 4.3.2"),
        ("data", "451 4.3.0 Try again later", "451 4.3.0"),
        # The body arrives and the connection dies before the reply.
        ("data", DROP, "Disconnect"),
        # Silent past [upstream] timeout.
        ("data", f"{STALL}5", "Timeout"),
    ],
)
def test_transient_failures_are_retried_until_delivered_once(
    tmp_path: Path, capture: Capture, where: str, reply: str, recorded: str
) -> None:
    """A 421 at MAIL, a 451 at DATA, a connection dropped mid-DATA or an upstream
    stalling past the timeout defers the message; the retry delivers it, once."""
    getattr(capture, f"{where}_replies").append(reply)
    config = FAST + '\n[upstream]\ntimeout = "1s"\n'
    herald = Herald(tmp_path, upstream=capture.url, config=config).start()
    try:
        run_id = accepted(herald, event("account.created"))
        run = herald.wait_for_status(run_id, "sent", timeout=15)
    finally:
        herald.stop()
    assert history(run) == ["accepted", "deferred", "sent"]
    assert recorded in run["history"][1]["detail"]
    assert run["items"][0]["attempts"] == 2
    assert len(capture.for_run(run_id)) == 1


@upstream_fault
def test_open_breaker_defers_without_connecting(tmp_path: Path) -> None:
    """After breaker_threshold connection failures, messages wait without a connection
    attempt until the cooldown ends; then the upstream, back up, gets them."""
    port = free_port()
    config = FAST + '\n[upstream]\nbreaker_threshold = 1\nbreaker_cooldown = "2s"\n'
    herald = Herald(tmp_path, upstream=f"smtp://{LOOPBACK}:{port}", config=config).start()
    upstream = Capture(port)
    try:
        run_id = accepted(herald, event("account.created"))
        wait_until(
            lambda: any("not tried" in entry["detail"] for entry in herald.run(run_id)["history"]),
            15,
            "a deferral by the open breaker",
        )
        upstream.start()
        herald.wait_for_status(run_id, "sent", timeout=15)
    finally:
        upstream.stop()
        herald.stop()
    assert herald.events("upstream_breaker_opened")[0]["upstream"] == f"{LOOPBACK}:{port}"
    assert len(upstream.for_run(run_id)) == 1


@upstream_fault
def test_permanent_failure_is_reported_by_signed_callback_and_bounce(
    tmp_path: Path, capture: Capture
) -> None:
    """A 550 fails that recipient at once; a signed callback and a bounce report it."""
    hooks = CallbackServer().start()
    hooks.statuses.append(500)  # the first POST fails: the report is retried
    capture.rcpt_replies["audit@"] = "550 5.1.1 <audit@herald.test>: no such user"
    config = (
        FAST
        + f"""
[notify]
callback_url = "{hooks.url}"
callback_secrets = ["{Herald.SECRET}"]
bounce_to = "postmaster@herald.test"

[delivery]
admin = "admin@herald.test"

[delivery.types."invoice.issued"]
bcc = ["audit@herald.test"]
"""
    )
    herald = Herald(tmp_path, upstream=capture.url, config=config).start()
    try:
        run_id = accepted(herald, event("invoice.issued"))
        run = herald.wait_for_status(run_id, "partial")
        wait_until(lambda: len(hooks.received) >= 2, 15, "the callback to be retried")
        bounce = wait_until(
            lambda: [c for c in capture.received if c.rcpt_tos == ["postmaster@herald.test"]],
            15,
            "the bounce upstream",
        )[0]
    finally:
        herald.stop()
        hooks.stop()
    items = {item["address"]: item for item in run["items"]}
    assert items["audit@herald.test"]["status"] == "failed"
    assert items["audit@herald.test"]["attempts"] == 1
    callback = hooks.received[-1]
    verify([Herald.SECRET], {k.lower(): v for k, v in callback.headers.items()}, callback.body)
    report = json.loads(callback.body)
    assert report["type"] == "message.failed"
    assert report["run_id"] == run_id
    assert report["recipients"] == [
        {
            "address": "audit@herald.test",
            "reply": None,
            "error": "550 5.1.1 <audit@herald.test>: no such user",
        }
    ]
    assert bounce.mail_from in ("", "<>")  # the null reverse-path
    assert bounce.message["Auto-Submitted"] == "auto-replied"
    assert run_id in bounce.message["Subject"]
    assert "audit@herald.test" in bounce.message.get_content()


def test_kill_9_during_a_burst_loses_nothing_acknowledged(tmp_path: Path, capture: Capture) -> None:
    """kill -9 in the middle of mixed webhook and SMTP traffic: after a restart every
    acknowledged message reaches the upstream, and only messages the run marks as
    interrupted (in flight at the kill) may arrive twice."""
    capture.data_delay = 0.02  # keep deliveries in flight when the kill lands
    # FAST ends in [queue]: four workers, so at most four are in flight at the kill.
    herald = Herald(tmp_path, upstream=capture.url, config=FAST + "workers = 4\n").start()
    acknowledged: list[str] = []
    lock = threading.Lock()
    killed = threading.Event()

    def send(number: int) -> None:
        if killed.is_set():
            return
        try:
            if number % 2:
                answer = herald.post_event(event("account.created"))
                run_id = answer.json["run_id"] if answer.status == 202 else None
            else:
                run_id = smtp_message(herald, f"burst {number}")
        except (OSError, smtplib.SMTPException, AssertionError, ValueError):
            return
        if run_id:
            with lock:
                acknowledged.append(run_id)

    with ThreadPoolExecutor(max_workers=8) as pool:
        futures = [pool.submit(send, number) for number in range(400)]
        wait_until(lambda: len(acknowledged) >= 60, 60, "60 acknowledged messages")
        wait_until(lambda: len(capture.received) >= 10, 30, "deliveries under way")
        herald.kill()
        killed.set()
        for future in futures:
            future.result()
    with lock:
        promised = list(acknowledged)

    herald.start()
    try:
        wait_until(
            lambda: all(capture.for_run(run_id) for run_id in promised),
            60,
            "every acknowledged message upstream",
        )
        duplicated = [run_id for run_id in promised if len(capture.for_run(run_id)) > 1]
        for run_id in duplicated:
            assert "interrupted" in history(herald.run(run_id)), run_id
        assert len(duplicated) <= 4  # [queue] workers: at most that many were in flight
    finally:
        herald.stop()


@pytest.mark.skipif(stores.KIND != "sqlite", reason="[store] max_size caps SQLite files")
def test_full_store_refuses_and_acknowledges_only_what_it_stored(
    tmp_path: Path, capture: Capture
) -> None:
    """When the store cannot grow, webhooks get 503 and SMTP 451; everything that got
    202 or 250 is in the store and is delivered once the store has room again."""
    config = FAST + "\n[store]\nmax_size = 524288\n"
    herald = Herald(tmp_path, upstream=capture.url, config=config).start()
    acknowledged: list[str] = []
    refused: list[int] = []
    padding = {"note": "x" * 6000}
    try:
        for _ in range(200):
            body = event("system.alert")
            body["data"].update(padding)
            answer = herald.post_event(body)
            if answer.status == 202:
                acknowledged.append(answer.json["run_id"])
            else:
                refused.append(answer.status)
                assert answer.headers["Retry-After"]
                break
        assert refused == [503]
        raw = "Subject: x\r\n\r\n" + ("y" * 70 + "\r\n") * 120
        with herald.smtp() as client, pytest.raises(smtplib.SMTPDataError) as smtp_refusal:
            client.sendmail("app@example.com", ["bob@example.com"], raw)
        assert smtp_refusal.value.smtp_code == 451
    finally:
        herald.stop()
    assert acknowledged

    herald.config_file.write_text(FAST, encoding="utf-8")
    herald.start()
    try:
        listed = herald.admin("/v1/runs?limit=200").json["runs"]
        assert {run["id"] for run in listed} >= set(acknowledged)
        assert len(listed) == len(acknowledged)
        for run_id in acknowledged:
            herald.wait_for_status(run_id, "sent", timeout=20)
    finally:
        herald.stop()


def metric(herald: Herald, name: str) -> float:
    """One unlabelled sample of ``name`` from /metrics."""
    text = herald.admin("/metrics").body.decode()
    [value] = re.findall(rf"^{name} (\S+)$", text, re.MULTILINE)
    return float(value)


class FullStore:
    """Fills the daemon's store from outside and makes room again.

    SQLite: another connection grows the file past the daemon's ``[store]
    max_size`` with a ballast table, so no page is left for Herald to add,
    and drops it again. PostgreSQL cannot be capped per schema, so a trigger
    on the tables that grow fails their inserts with the server's own
    disk-full error (SQLSTATE 53100), and is dropped again.
    """

    ERROR = "database or disk is full" if stores.KIND == "sqlite" else "No space left on device"
    CONFIG = "\n[store]\nmax_size = 1048576\n" if stores.KIND == "sqlite" else ""

    def __init__(self, herald: Herald) -> None:
        self.url = herald.env["HERALD_STORE"]

    def fill(self) -> None:
        if stores.KIND == "sqlite":
            with contextlib.closing(sqlite3.connect(self.url, timeout=10)) as db, db:
                db.execute("CREATE TABLE ballast (filler BLOB)")
                db.execute("INSERT INTO ballast VALUES (zeroblob(2097152))")
            return
        url, schema = split_url(self.url)
        function = f'"{schema}".disk_full'
        statements = [
            f"CREATE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
            " RAISE EXCEPTION USING ERRCODE = 'disk_full',"
            f" MESSAGE = 'could not extend file: {self.ERROR}'; END $$",
            *(
                f'CREATE TRIGGER disk_full BEFORE INSERT ON "{schema}".{table}'
                f" FOR EACH STATEMENT EXECUTE FUNCTION {function}()"
                for table in ("runs", "history", "settings", "notices")
            ),
        ]
        asyncio.run(self._execute(url, statements))

    def make_room(self) -> None:
        if stores.KIND == "sqlite":
            with contextlib.closing(sqlite3.connect(self.url, timeout=10)) as db, db:
                db.execute("DROP TABLE ballast")
            return
        url, schema = split_url(self.url)
        asyncio.run(self._execute(url, [f'DROP FUNCTION "{schema}".disk_full() CASCADE']))

    def age_leases(self, seconds: float) -> None:
        """Move every lease ``seconds`` closer to its end, as the clock would by
        running on: a write in place, which a full store still takes."""
        self._run(
            "UPDATE {}messages SET lease_until = lease_until - {} WHERE lease_until IS NOT NULL",
            float(seconds),
        )

    def lease_ends(self) -> list[float]:
        """When each lease held now runs out."""
        rows = self._run("SELECT lease_until FROM {}messages WHERE lease_until IS NOT NULL")
        return [float(row[0]) for row in rows]

    def _run(self, statement: str, *numbers: float) -> list[tuple[Any, ...]]:
        """``statement`` with its schema and ``numbers`` filled in, on a
        connection of the test's own to the store's file or schema."""
        if stores.KIND == "sqlite":
            with contextlib.closing(sqlite3.connect(self.url, timeout=10)) as db, db:
                return db.execute(statement.format("", *numbers)).fetchall()
        url, schema = split_url(self.url)

        async def run() -> list[tuple[Any, ...]]:
            connection = await asyncpg.connect(url)
            try:
                rows = await connection.fetch(statement.format(f'"{schema}".', *numbers))
                return [tuple(row) for row in rows]
            finally:
                await connection.close()

        return asyncio.run(run())

    @staticmethod
    async def _execute(url: str, statements: list[str]) -> None:
        connection = await asyncpg.connect(url)
        try:
            for statement in statements:
                await connection.execute(statement)
        finally:
            await connection.close()


def test_outcomes_a_full_store_refuses_are_written_once_it_has_room(
    tmp_path: Path, capture: Capture
) -> None:
    """When the store fills up while the upstream takes a message, its outcome is kept
    instead of left to the lease: /healthz answers 503 naming the trouble and /metrics
    counts it while it lasts, and once the store has room the outcome is written and
    the upstream has the message exactly once."""
    lease = 3.0
    config = FAST + f'lease = "{lease}s"\n' + FullStore.CONFIG
    herald = Herald(tmp_path, upstream=capture.url, config=config).start()
    full = FullStore(herald)
    # A hundred recipients: their outcomes need more room than any page has left.
    recipients = [f"r{n}@example.com" for n in range(100)]
    capture.answering.clear()
    try:
        with herald.smtp() as client:
            client.ehlo()
            client.mail("app@example.com")
            for address in recipients:
                assert client.rcpt(address)[0] == 250
            code, reply = client.data(
                b"From: app@example.com\r\nTo: r0@example.com\r\n"
                b"Subject: outcome on a full disk\r\n\r\nbody\r\n"
            )
        assert code == 250, reply
        run_id = reply.decode().rsplit(" ", 1)[-1]
        wait_until(lambda: capture.active, 10, "DATA to reach the upstream")
        full.fill()  # while the upstream holds the message
        capture.answering.set()

        def troubled() -> dict[str, object] | None:
            answer = herald.request("GET", "/healthz")
            return answer.json if answer.status == 503 else None

        trouble = wait_until(troubled, 15, "/healthz to report the full store")
        assert trouble["type"] == "urn:herald:problem:store-trouble"
        assert FullStore.ERROR in str(trouble["detail"])
        assert trouble["unrecorded_outcomes"] == 1
        assert metric(herald, "herald_store_trouble") == 1
        assert metric(herald, "herald_unrecorded_outcomes") == 1
        assert metric(herald, "herald_store_write_failures_total") >= 1
        assert herald.run(run_id)["status"] == "queued"
        # Full for longer than the lease, as if the clock ran on: a claim left
        # to expire would be sent again. The outcome is tried once more first.
        # The queue manager renews the lease of an outcome it keeps, so that
        # no one claims the message meanwhile.
        full.age_leases(2 * lease)
        wait_until(
            lambda: min(full.lease_ends()) > time.time(),
            10,
            "the kept outcome's lease to be renewed",
        )
        assert herald.request("GET", "/healthz").status == 503
        full.make_room()
        run = herald.wait_for_status(run_id, "sent", timeout=20)
        wait_until(lambda: herald.request("GET", "/healthz").status == 200, 10, "/healthz 200")
        assert metric(herald, "herald_store_trouble") == 0
        assert metric(herald, "herald_unrecorded_outcomes") == 0
    finally:
        capture.answering.set()
        herald.stop()
    [mail] = capture.for_run(run_id)
    assert mail.message["Subject"] == "outcome on a full disk"
    assert sorted(mail.rcpt_tos) == sorted(recipients)
    assert {(item["status"], item["attempts"]) for item in run["items"]} == {("sent", 1)}
    assert "interrupted" not in history(run)
    assert herald.events("attempt_kept")
    assert herald.events("attempt_recorded_late")


def test_sigterm_returns_a_stalled_delivery_to_the_queue(tmp_path: Path, capture: Capture) -> None:
    """SIGTERM during a stalled DATA exits after shutdown_grace; the next start sends the
    message again and its run says it may be a duplicate."""
    capture.data_replies.append(f"{STALL}30")
    config = FAST + '\n[server]\nshutdown_grace = "1s"\n\n[upstream]\ntimeout = "60s"\n'
    herald = Herald(tmp_path, upstream=capture.url, config=config).start()
    run_id = accepted(herald, event("account.created"))
    wait_until(lambda: capture.active, 10, "DATA to stall")
    assert herald.stop(signal.SIGTERM, timeout=15) == 0
    assert herald.events("deliveries_cut_short")
    herald.start()
    try:
        run = herald.wait_for_status(run_id, "sent", timeout=15)
    finally:
        herald.stop()
    assert "interrupted" in history(run)
    assert herald.events("leases_recovered")


@upstream_fault
def test_sighup_reloads_what_it_safely_can(tmp_path: Path) -> None:
    """SIGHUP applies new queue settings, names what needs a restart, and keeps the
    running configuration when the new file is broken."""
    # The upstream stays down, so what is accepted stays in the queue.
    herald = Herald(tmp_path, upstream=f"smtp://{LOOPBACK}:{free_port()}", config=FAST).start()
    try:
        assert herald.process is not None
        herald.config_file.write_text(
            FAST + "max_depth = 1\n\n[smtp]\nmax_message_size = 1000\n", encoding="utf-8"
        )
        herald.process.send_signal(signal.SIGHUP)
        [reloaded] = wait_until(lambda: herald.events("config_reloaded"), 10, "the reload")
        assert reloaded["changed"] == ["queue"]
        assert reloaded["needs_restart"] == ["smtp"]
        herald.config_file.write_text('[pipeline]\nstages = ["no-such-stage"]\n', encoding="utf-8")
        herald.process.send_signal(signal.SIGHUP)
        wait_until(lambda: herald.events("config_reload_failed"), 10, "the failed reload")
        assert herald.post_event(event("account.created")).status == 202
        answer = herald.post_event(event("account.created"))
        assert answer.status == 503  # max_depth = 1 from the first reload still holds
    finally:
        herald.stop()


@upstream_fault
def test_max_connections_and_reuse_protect_the_upstream(tmp_path: Path, capture: Capture) -> None:
    """With max_connections = 1 the upstream never sees two transactions at once, and
    messages one after another share one connection."""
    capture.data_delay = 0.05
    config = FAST + "\n[upstream]\nmax_connections = 1\n"
    herald = Herald(tmp_path, upstream=capture.url, config=config).start()
    try:
        run_ids = [accepted(herald, event("account.created")) for _ in range(6)]
        for run_id in run_ids:
            herald.wait_for_status(run_id, "sent", timeout=15)
    finally:
        herald.stop()
    assert capture.most_active == 1
    assert capture.sessions < len(run_ids)


@upstream_fault
def test_queue_depth_limit_answers_503_and_451(tmp_path: Path) -> None:
    """Over [queue] max_depth the webhook answers 503 with Retry-After and SMTP 451 4.3.1,
    until the queue drains."""
    port = free_port()
    config = FAST + 'max_depth = 2\n\n[upstream]\nbreaker_cooldown = "0.2s"\n'
    herald = Herald(tmp_path, upstream=f"smtp://{LOOPBACK}:{port}", config=config).start()
    upstream = Capture(port)
    try:
        first = [accepted(herald, event("account.created")) for _ in range(2)]
        time.sleep(1.1)  # past the intake's one-second trust in its depth count
        answer = herald.post_event(event("account.created"))
        assert answer.status == 503
        assert answer.headers["Retry-After"] == "30"
        assert answer.json["type"].endswith(":queue-full")
        with herald.smtp() as client:
            client.ehlo()
            code, reply = client.mail("app@example.com")
        assert code == 451
        assert reply.startswith(b"4.3.1")
        upstream.start()
        for run_id in first:
            herald.wait_for_status(run_id, "sent", timeout=15)
        wait_until(
            lambda: herald.post_event(event("account.created")).status == 202, 10, "room again"
        )
    finally:
        upstream.stop()
        herald.stop()


@upstream_fault
def test_one_smtp_connection_too_many_is_greeted_with_421(tmp_path: Path) -> None:
    """Over [smtp] max_connections a new connection gets 421 4.3.2 and is closed;
    once one closes, the next is served."""
    herald = Herald(tmp_path, upstream=None, config=FAST + "\n[smtp]\nmax_connections = 1\n")
    herald.start()
    try:
        with herald.smtp() as first:
            first.ehlo()
            with pytest.raises(smtplib.SMTPConnectError) as refused:
                smtplib.SMTP(LOOPBACK, herald.smtp_port, local_hostname="client.test", timeout=10)
            assert refused.value.smtp_code == 421
            error = refused.value.smtp_error
            assert isinstance(error, bytes)
            assert error.startswith(b"4.3.2")

        def served() -> str | None:
            try:
                return smtp_message(herald, "after")
            except smtplib.SMTPConnectError:
                return None  # the first connection's end is not seen yet

        wait_until(served, 10, "a free connection slot")
    finally:
        herald.stop()


@upstream_fault
def test_submissions_at_once_over_max_intake_get_503(tmp_path: Path) -> None:
    """With [queue] max_intake places taken (here by a client still sending its body),
    the next webhook gets 503 with Retry-After before its body is read."""
    herald = Herald(tmp_path, upstream=None, config=FAST + "max_intake = 1\n").start()
    try:
        body = json.dumps(event("account.created")).encode()
        signed = standard_webhooks_headers(Herald.SECRET, body, "msg_slow", int(time.time()))
        head = "".join(f"{name}: {value}\r\n" for name, value in signed.items())
        with socket.create_connection((LOOPBACK, herald.http_port), timeout=10) as slow:
            slow.sendall(
                b"POST /v1/events HTTP/1.1\r\nHost: herald.test\r\n"
                + f"Content-Type: application/json\r\n{head}".encode()
                + f"Content-Length: {len(body)}\r\n\r\n".encode()
                + body[:10]
            )
            answer = wait_until(
                lambda: (a := herald.post_event(event("account.created"))).status == 503 and a,
                10,
                "the second submission to be refused",
            )
            assert answer.headers["Retry-After"] == "30"
            assert "at once" in answer.json["detail"]
            slow.sendall(body[10:])
            assert b"202 Accepted" in slow.recv(4096)
        assert herald.post_event(event("account.created")).status == 202
    finally:
        herald.stop()


def test_after_sighup_the_dry_run_and_intake_use_the_reloaded_policy(
    tmp_path: Path, capture: Capture
) -> None:
    """After SIGHUP, /v1/delivery/dry-run answers with the delivery policy of the
    reloaded file, and the next event is delivered with that same policy."""
    before = '\n[delivery.types."account.created"]\nbcc = ["first@herald.test"]\n'
    after = (
        '\n[delivery.types."account.created"]\ncustomers = false\nbcc = ["second@herald.test"]\n'
    )
    herald = Herald(tmp_path, upstream=capture.url, config=FAST + before).start()
    try:
        assert herald.process is not None

        def receivers() -> dict[str, bool]:
            answer = herald.admin_send("POST", "/v1/delivery/dry-run", event("account.created"))
            assert answer.status == 200, answer.body
            return {r["address"]: r["receives"] for r in answer.json["recipients"]}

        assert receivers() == {"ada@example.com": True, "first@herald.test": True}
        herald.config_file.write_text(FAST + after, encoding="utf-8")
        herald.process.send_signal(signal.SIGHUP)
        [reloaded] = wait_until(lambda: herald.events("config_reloaded"), 10, "the reload")
        assert reloaded["changed"] == ["delivery"]
        assert receivers() == {"ada@example.com": False, "second@herald.test": True}

        run_id = accepted(herald, event("account.created"))
        [mail] = capture.wait_for_run(run_id)
        herald.wait_for_status(run_id, "sent")
    finally:
        herald.stop()
    assert mail.rcpt_tos == ["second@herald.test"]
    # The customers are off: the copy is addressed to no one but its BCC.
    assert "ada@example.com" not in str(mail.message["To"])
