"""The SMTP listener under attack: open relay, AUTH, TLS, limits and smuggling."""

from __future__ import annotations

import base64
import select
import smtplib
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.harness import (
    LOOPBACK,
    STRANGER,
    Capture,
    CertificateAuthority,
    Herald,
    RawSMTP,
    free_port,
    wait_until,
)

PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """The listener's certificate and key, and the CA a client trusts."""
    authority = CertificateAuthority.make(tmp_path_factory.mktemp("tls"))
    return authority.cert_file, authority.key_file, authority.ca_file


@pytest.fixture(scope="module")
def herald(
    tmp_path_factory: pytest.TempPathFactory, capture: Capture, cert: tuple[Path, Path, Path]
) -> Iterator[Herald]:
    workdir = tmp_path_factory.mktemp("herald-smtp")
    tls_port = free_port()
    config = f"""
[smtp]
allow = ["127.0.0.1/32"]
tls_cert = "{cert[0]}"
tls_key = "{cert[1]}"
tls_listen = "{LOOPBACK}:{tls_port}"
max_message_size = 20000
max_recipients = 3
command_limit = 20
idle_timeout = "2s"

[queue]
poll_interval = "0.2s"
"""
    daemon = Herald(workdir, upstream=capture.url, config=config).start()
    daemon.tls_port = tls_port  # type: ignore[attr-defined]
    added = daemon.cli("smtp-users", "add", "app", "--password-stdin", input=PASSWORD + "\n")
    assert added.returncode == 0, added.stderr
    limited = daemon.cli(
        "smtp-users",
        "add",
        "shop",
        "--password-stdin",
        "--sender-domain",
        "shop.test",
        "--recipient-domain",
        "example.com",
        input=PASSWORD + "\n",
    )
    assert limited.returncode == 0, limited.stderr
    yield daemon
    daemon.stop()


def message(subject: str, to: str = "bob@example.com") -> str:
    return f"From: app@shop.test\r\nTo: {to}\r\nSubject: {subject}\r\n\r\nHello\r\n"


def test_a_stranger_cannot_relay_without_auth(herald: Herald, capture: Capture) -> None:
    """A client at 127.0.0.2, outside 127.0.0.1/32, may not relay to an outside domain."""
    before = len(capture.received)
    with herald.raw_smtp(source=STRANGER) as client:
        code, features = client.command("EHLO stranger.test")
        assert code == 250
        assert "AUTH" not in features  # never offered in clear
        assert client.command("MAIL FROM:<spam@stranger.test>")[0] == 530
        assert client.command("RCPT TO:<victim@outside.test>")[0] in (503, 554)
        assert client.command("DATA")[0] in (503, 554)
        assert client.command("AUTH PLAIN AGFwcABwYXNzd29yZA==")[0] == 538
    runs = herald.admin("/v1/runs?limit=200").json["runs"]
    assert not any(run["mail_from"] == "spam@stranger.test" for run in runs)
    assert len(capture.received) == before


def test_an_allowed_network_relays_without_auth(herald: Herald, capture: Capture) -> None:
    """A client at 127.0.0.1 inside the allow-list relays without logging in."""
    with herald.smtp() as client:
        client.sendmail("app@shop.test", ["bob@example.com"], message("from inside"))
    capture.wait_for(lambda c: c.message["Subject"] == "from inside")


def test_starttls_then_auth_lets_a_stranger_relay(
    herald: Herald, capture: Capture, cert: tuple[Path, Path, Path]
) -> None:
    """After STARTTLS, AUTH PLAIN is offered and a valid login relays; Received says ESMTPSA."""
    with herald.smtp(source=STRANGER) as client:
        client.starttls(context=Herald.client_tls(cert[2]))
        client.ehlo("client.test")
        assert "PLAIN" in client.esmtp_features["auth"]
        client.login("app", PASSWORD)
        client.sendmail("app@shop.test", ["carol@outside.test"], message("over tls"))
    [mail] = capture.wait_for(lambda c: c.message["Subject"] == "over tls")
    assert mail.rcpt_tos == ["carol@outside.test"]
    assert "with ESMTPSA" in str(mail.message["Received"])
    assert "[127.0.0.2]" in str(mail.message["Received"])


def test_implicit_tls_listener_accepts_auth_login(
    herald: Herald, capture: Capture, cert: tuple[Path, Path, Path]
) -> None:
    """The implicit-TLS listener offers AUTH at once and relays after AUTH LOGIN."""
    port: int = herald.tls_port  # type: ignore[attr-defined]
    with smtplib.SMTP_SSL(
        LOOPBACK,
        port,
        local_hostname="client.test",
        context=Herald.client_tls(cert[2]),
        timeout=10,
        source_address=(STRANGER, 0),
    ) as client:
        client.ehlo("client.test")
        assert "LOGIN" in client.esmtp_features["auth"]
        client.user, client.password = "app", PASSWORD
        code, _ = client.auth("LOGIN", client.auth_login, initial_response_ok=False)
        assert code == 235
        client.sendmail("app@shop.test", ["dan@outside.test"], message("implicit tls"))
    capture.wait_for(lambda c: c.message["Subject"] == "implicit tls")


def test_wrong_passwords_are_refused_and_then_cut_off(
    herald: Herald, cert: tuple[Path, Path, Path]
) -> None:
    """Bad credentials get 535, an unknown login the same, and the fourth try 421."""
    with herald.smtp(source=STRANGER) as client:
        client.starttls(context=Herald.client_tls(cert[2]))
        client.ehlo("client.test")
        for login in ("app", "nobody", "app"):
            credentials = base64.b64encode(f"\0{login}\0wrong password".encode()).decode()
            code, reply = client.docmd("AUTH", f"PLAIN {credentials}")
            assert (code, reply[:5]) == (535, b"5.7.8")
        code, reply = client.docmd("AUTH", "PLAIN AGFwcABwYXNzd29yZA==")
        assert code == 421
        assert b"4.7.0" in reply


def test_login_domain_allow_lists(herald: Herald, cert: tuple[Path, Path, Path]) -> None:
    """A login limited to shop.test senders and example.com recipients is held to both."""
    with herald.smtp(source=STRANGER) as client:
        client.starttls(context=Herald.client_tls(cert[2]))
        client.ehlo("client.test")
        client.login("shop", PASSWORD)
        code, reply = client.mail("ceo@bank.test")
        assert (code, reply[:5]) == (550, b"5.7.1")
        assert client.mail("orders@shop.test")[0] == 250
        code, reply = client.rcpt("victim@outside.test")
        assert (code, reply[:5]) == (550, b"5.7.1")
        assert client.rcpt("bob@example.com")[0] == 250


def test_size_recipient_and_line_limits(herald: Herald) -> None:
    """Too big is 552, the fourth recipient 452, a 2000-octet line 500."""
    with herald.smtp() as client:
        client.ehlo("client.test")
        client.mail("app@shop.test")
        for n in range(3):
            assert client.rcpt(f"r{n}@example.com")[0] == 250
        code, reply = client.rcpt("r3@example.com")
        assert (code, reply[:5]) == (452, b"4.5.3")
        assert client.data(message("big") + ("x" * 900 + "\r\n") * 30)[0] == 552
        client.mail("app@shop.test")
        client.rcpt("bob@example.com")
        assert client.data(message("long") + "y" * 2000 + "\r\n")[0] == 500


def test_command_flood_and_idle_client_get_421(herald: Herald) -> None:
    """A client that repeats a command past the limit, or sits idle, is told 421 and closed."""
    with herald.raw_smtp() as client:
        client.command("EHLO client.test")
        codes = [client.command("NOOP")[0] for _ in range(21)]
        assert codes[-1] == 421
        assert set(codes[:-1]) == {250}
    with herald.raw_smtp() as idle:
        started = time.monotonic()
        code, text = idle.reply()  # nothing sent: the server speaks first when it gives up
        assert code == 421
        assert "4.4.2" in text
        assert time.monotonic() - started < 30


def test_a_bulk_send_on_one_connection_is_not_cut_off(herald: Herald, capture: Capture) -> None:
    """More messages on one connection than command_limit (20 here) are all
    accepted and relayed: a transaction's commands are not counted."""
    subjects = [f"bulk {number} {time.monotonic_ns()}" for number in range(25)]
    with herald.smtp() as client:
        for subject in subjects:
            client.sendmail("app@shop.test", ["bob@example.com"], message(subject))
        assert client.noop()[0] == 250
    wanted = set(subjects)

    def all_arrived() -> bool:
        return wanted <= {str(c.message["Subject"]) for c in capture.received}

    wait_until(all_arrived, 30, "every message of the bulk send")


SMUGGLED = (
    b"MAIL FROM:<ceo@bank.test>\r\nRCPT TO:<victim@outside.test>\r\nDATA\r\n"
    b"From: ceo@bank.test\r\nSubject: smuggled\r\n\r\nwire the money\r\n"
)


@pytest.mark.parametrize(
    "end",
    [b"\n.\n", b"\r.\r", b"\n.\r\n", b"\r\n.\n", b"\r.\r\n", b"\r\n.\r"],
    ids=["LF.LF", "CR.CR", "LF.CRLF", "CRLF.LF", "CR.CRLF", "CRLF.CR"],
)
def test_smuggling_yields_one_message_with_crlf_only(
    herald: Herald, capture: Capture, end: bytes
) -> None:
    """A non-CRLF end-of-data in DATA never splits one transaction into two upstream."""
    subject = f"carrier {end!r}"
    with herald.raw_smtp() as client:
        client.command("EHLO client.test")
        assert client.command("MAIL FROM:<app@shop.test>")[0] == 250
        assert client.command("RCPT TO:<bob@example.com>")[0] == 250
        assert client.command("DATA")[0] == 354
        client.send(
            f"From: app@shop.test\r\nTo: bob@example.com\r\nSubject: {subject}\r\n\r\nhi".encode()
            + end
            + SMUGGLED
            + b"\r\n.\r\n"
        )
        code, text = client.reply()
        assert code == 250, text
        run_id = text.rsplit(" ", 1)[-1]
        assert client.command("QUIT")[0] == 221
    [mail] = capture.wait_for_run(run_id)
    assert mail.rcpt_tos == ["bob@example.com"]
    assert mail.content.count(b"\n") == mail.content.count(b"\r\n")
    assert mail.content.count(b"\r") == mail.content.count(b"\r\n")
    assert mail.message["Subject"] == subject
    runs = herald.admin("/v1/runs?limit=200").json["runs"]
    assert not any(run["subject"] == "smuggled" for run in runs)
    assert not any(c.message["Subject"] == "smuggled" for c in capture.received)


# Both 127.0.0.1 and 127.0.0.2 are inside the default allow-list (127.0.0.0/8),
# so each stands for a different local client that may relay.
CROWDED = """
[smtp]
max_connections = 12
max_connections_per_address = 3
pre_mail_timeout = "1s"

[queue]
poll_interval = "0.2s"
"""


@pytest.fixture(scope="module")
def crowded(tmp_path_factory: pytest.TempPathFactory, capture: Capture) -> Iterator[Herald]:
    daemon = Herald(tmp_path_factory.mktemp("herald-crowded"), upstream=capture.url, config=CROWDED)
    yield daemon.start()
    daemon.stop()


def closed_with(client: RawSMTP) -> tuple[int, str]:
    """The reply a server sends before it hangs up, then its end of the connection."""
    reply = client.reply()
    assert client.file.readline() == b""
    return reply


def test_one_address_cannot_take_the_slots_of_another(crowded: Herald, capture: Capture) -> None:
    """Idle connections from one address fill only that address's share: its next
    connection gets 421 4.7.0, while a client at another address still relays."""
    idle = [crowded.raw_smtp() for _ in range(3)]
    try:
        assert [client.greeting[0] for client in idle] == [220, 220, 220]
        with crowded.raw_smtp() as refused:
            code, text = refused.greeting
            assert (code, text.split()[1]) == (421, "4.7.0")
            assert "127.0.0.1" in text
            assert refused.file.readline() == b""
        with crowded.smtp(source=STRANGER) as other:
            other.sendmail(
                "app@example.com",
                ["bob@example.com"],
                "From: app@example.com\r\nTo: bob@example.com\r\n"
                "Subject: from the other address\r\n\r\nstill served\r\n",
            )
        [mail] = capture.wait_for(lambda c: c.message["Subject"] == "from the other address")
        assert mail.message.get_content().strip() == "still served"
        assert "[127.0.0.2]" in mail.message["Received"]
    finally:
        for client in idle:
            client.close()


def test_a_client_that_never_sends_mail_is_cut_off_and_its_slot_freed(crowded: Herald) -> None:
    """A client that dribbles bytes without ever sending MAIL FROM gets 421 4.4.2 once
    pre_mail_timeout has passed, and the slots it held serve the next clients."""
    dribblers = [crowded.raw_smtp() for _ in range(3)]
    try:
        started = time.monotonic()
        for dribbler in dribblers:
            dribbler.send(b"EHLO dribbler.test\r\nNOOP\r\n")
            assert dribbler.reply()[0] == 250
            assert dribbler.reply()[0] == 250
        # One byte of a command at a time, never a whole line: the idle timer
        # never sees a command, and only the pre-MAIL clock can end this.
        while not select.select([dribblers[0].sock], [], [], 0.2)[0]:
            dribblers[0].send(b"N")
            assert time.monotonic() - started < 20, "the dribbler was never cut off"
        for dribbler in dribblers:
            code, text = closed_with(dribbler)
            assert (code, text.split()[1]) == (421, "4.4.2")
            assert "MAIL FROM" in text
    finally:
        for dribbler in dribblers:
            dribbler.close()

    def served() -> bool:
        with crowded.raw_smtp() as client:
            return client.greeting[0] == 220

    wait_until(served, 10, "the freed slots to serve a new client")


def test_a_transaction_under_way_outlives_the_pre_mail_timeout(
    crowded: Herald, capture: Capture
) -> None:
    """Once MAIL FROM is accepted only idle_timeout applies: a client slower than
    pre_mail_timeout between its commands still has its message relayed."""
    with crowded.raw_smtp() as client:
        assert client.command("EHLO slow.test")[0] == 250
        assert client.command("MAIL FROM:<app@example.com>")[0] == 250
        time.sleep(2)  # past pre_mail_timeout (1s), well within idle_timeout
        assert client.command("RCPT TO:<bob@example.com>")[0] == 250
        assert client.command("DATA")[0] == 354
        client.send(b"From: app@example.com\r\nSubject: slow but sure\r\n\r\nhi\r\n.\r\n")
        code, text = client.reply()
        assert code == 250, text
    [mail] = capture.wait_for(lambda c: c.message["Subject"] == "slow but sure")
    assert mail.rcpt_tos == ["bob@example.com"]
