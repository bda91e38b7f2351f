"""Several Herald nodes on one PostgreSQL database, and moving onto PostgreSQL."""

from __future__ import annotations

import json
import signal
import smtplib
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests import stores
from tests.integration.harness import (
    LOOPBACK,
    Capture,
    CertificateAuthority,
    Herald,
    free_port,
    wait_until,
)

pytestmark = pytest.mark.skipif(
    stores.KIND != "postgresql", reason="runs in the PostgreSQL pass (HERALD_TEST_STORE=postgresql)"
)

WORKERS = 4
NODE_CONFIG = f"""
[queue]
workers = {WORKERS}
lease = "2s"
retry_initial = "0.3s"
retry_max = "1s"
poll_interval = "0.2s"
"""


def account_created(event_id: str) -> dict[str, Any]:
    return {
        "id": event_id,
        "type": "account.created",
        "occurred_at": "2026-11-01T10:00:00Z",
        "recipient": {"kind": "customer", "id": "cus_1", "name": "Ada", "email": "ada@example.com"},
        "data": {},
    }


def start_nodes(tmp_path: Path, count: int, upstream: Capture, **env: str) -> list[Herald]:
    """``count`` nodes on one new store, each with its own state directory."""
    store = stores.url_for(tmp_path)
    nodes = []
    for number in range(count):
        workdir = tmp_path / f"node{number}"
        workdir.mkdir()
        node = Herald(workdir, upstream=upstream.url, config=NODE_CONFIG)
        node.env |= {
            "HERALD_STORE": store,
            "HERALD_HOSTNAME": f"node{number}.herald.test",
            **env,
        }
        nodes.append(node.start())
    return nodes


def test_three_nodes_share_one_queue_and_survive_a_kill(tmp_path: Path) -> None:
    """Three nodes take a mixed burst; one is killed with -9 mid-way; every accepted
    message arrives, duplicates stay within what the killed node had in flight,
    and every run completes."""
    upstream = Capture().start()
    nodes = start_nodes(tmp_path, 3, upstream)
    accepted: list[str] = []
    lock = threading.Lock()

    def webhook_burst(node: Herald, count: int) -> None:
        for _ in range(count):
            try:
                answer = node.post_event(account_created(f"evt_{uuid.uuid4().hex}"))
            except OSError:
                continue  # the killed node: nothing was acknowledged
            if answer.status == 202:
                with lock:
                    accepted.append(answer.json["run_id"])

    def smtp_burst(node: Herald, count: int) -> None:
        for number in range(count):
            try:
                with smtplib.SMTP(LOOPBACK, node.smtp_port, local_hostname="app.test") as client:
                    client.ehlo()
                    client.mail("app@example.com")
                    client.rcpt(f"user{number}@example.com")
                    code, reply = client.data(
                        f"From: app@example.com\r\nTo: user{number}@example.com\r\n"
                        f"Subject: burst {number}\r\n\r\nhello\r\n".encode()
                    )
            except (smtplib.SMTPException, OSError):
                continue
            if code == 250:
                with lock:
                    accepted.append(reply.decode().rsplit(" ", 1)[-1])

    try:
        threads = [
            threading.Thread(target=burst, args=(node, 25))
            for node in nodes
            for burst in (webhook_burst, smtp_burst)
        ]
        for thread in threads:
            thread.start()
        time.sleep(0.5)
        victim = nodes[1]
        assert victim.process is not None
        victim.process.send_signal(signal.SIGKILL)
        victim.process.wait(10)
        for thread in threads:
            thread.join(60)

        assert len(accepted) >= 100, "the surviving nodes accepted too little to prove anything"
        survivor = nodes[0]

        def all_complete() -> bool:
            return all(survivor.run(run_id)["status"] == "sent" for run_id in accepted)

        wait_until(all_complete, 60, "every accepted run to be sent")
        arrivals: dict[str, int] = {}
        for mail in upstream.received:
            run_id = str(mail.message["Message-ID"]).strip("<>").split("@")[0]
            arrivals[run_id] = arrivals.get(run_id, 0) + 1
        missing = [run_id for run_id in accepted if run_id not in arrivals]
        assert missing == []
        duplicates = sum(count - 1 for count in arrivals.values())
        # Only messages the killed node was relaying at the kill can arrive twice.
        assert duplicates <= WORKERS
    finally:
        for node in nodes:
            if node.process is not None and node.process.poll() is None:
                node.stop()
        upstream.stop()


def test_migrate_store_moves_every_run_onto_postgresql(tmp_path: Path) -> None:
    """`herald migrate-store` copies a SQLite installation's runs and queue into
    PostgreSQL; a node started there delivers what was waiting and records new runs."""
    down_port = free_port()  # nothing listens here yet
    sqlite_dir = tmp_path / "sqlite"
    sqlite_dir.mkdir()
    old = Herald(sqlite_dir, upstream=f"smtp://{LOOPBACK}:{down_port}", config=NODE_CONFIG)
    sqlite_path = str(sqlite_dir / "state" / "herald.db")
    old.env["HERALD_STORE"] = sqlite_path
    old.start()
    waiting = old.post_event(account_created("evt_waiting")).json["run_id"]
    old.wait_for_status(waiting, "deferred")
    rejected = old.post_event({**account_created("evt_bad"), "type": "no.such.type"})
    assert old.stop() == 0

    target = stores.url_for(tmp_path)
    moved = old.cli("migrate-store", "--from", sqlite_path, "--to", target)
    assert moved.returncode == 0, moved.stderr
    assert "moved 2 runs" in moved.stdout
    again = old.cli("migrate-store", "--from", sqlite_path, "--to", target)
    assert again.returncode == 1
    assert "already holds runs" in again.stderr

    upstream = Capture(down_port).start()
    new_dir = tmp_path / "pg"
    new_dir.mkdir()
    node = Herald(new_dir, upstream=upstream.url, config=NODE_CONFIG)
    node.env["HERALD_STORE"] = target
    try:
        node.start()
        upstream.wait_for_run(waiting, timeout=20)
        run = node.wait_for_status(waiting, "sent")
        assert [entry["event"] for entry in run["history"]][:2] == ["accepted", "deferred"]
        assert node.run(rejected.json["run_id"])["status"] == "rejected"
        fresh = node.post_event(account_created("evt_after_move"))
        assert fresh.status == 202
        node.wait_for_status(fresh.json["run_id"], "sent")
        listed = json.loads(node.cli("runs", "list", "--json").stdout.splitlines()[0])
        assert listed["id"] == fresh.json["run_id"]
    finally:
        node.stop()
        upstream.stop()


def test_settings_saved_through_one_node_apply_on_another(
    tmp_path: Path, test_ca: CertificateAuthority
) -> None:
    """Two nodes share the store and the key file: an upstream with a password and
    a delivery setting saved through node 0 apply to node 1's next message."""
    plain = Capture().start()
    secure = Capture(tls=test_ca.server_context(), logins={"herald": "pw-" + uuid.uuid4().hex})
    secure.start()
    nodes = start_nodes(tmp_path, 2, plain, HERALD_SETTINGS_KEY_FILE=str(tmp_path / "settings-key"))
    try:
        [password] = secure.logins.values()
        settings = {
            "host": LOOPBACK,
            "port": secure.port,
            "security": "starttls",
            "ca_file": str(test_ca.ca_file),
            "login": "herald",
            "password": password,
        }
        assert nodes[0].admin_send("PATCH", "/v1/smtp", settings).status == 200
        assert nodes[0].admin_send("PUT", "/v1/delivery/admin", {"address": "ops@x.test"}).ok
        policy = {"customers": False, "bcc_admin": True}
        assert nodes[0].admin_send("PATCH", "/v1/delivery/types/account.created", policy).ok
        answer = nodes[1].post_event(account_created(f"evt_{uuid.uuid4().hex}"))
        assert answer.status == 202, answer.body
        [mail] = secure.wait_for_run(answer.json["run_id"])
        assert mail.login == "herald"
        assert mail.rcpt_tos == ["ops@x.test"]
        assert not plain.received
    finally:
        for node in nodes:
            node.stop()
        plain.stop()
        secure.stop()
