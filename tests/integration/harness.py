"""Real processes and sockets for end-to-end tests: the daemon, a capture upstream.

Everything binds to 127.0.0.1 only.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import http.client
import json
import os
import signal
import smtplib
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests import stores
from tests.capture import (
    DROP,
    LOOPBACK,
    STALL,
    Capture,
    Captured,
    CertificateAuthority,
    free_port,
    wait_until,
)

__all__ = [
    "DROP",
    "LOOPBACK",
    "STALL",
    "STRANGER",
    "CallbackServer",
    "Capture",
    "Captured",
    "CertificateAuthority",
    "Herald",
    "RawSMTP",
    "free_port",
    "wait_until",
]

# Another loopback address, outside a 127.0.0.1/32 allow-list: "a stranger".
STRANGER = "127.0.0.2"
ROOT = Path(__file__).resolve().parents[2]


def standard_webhooks_headers(secret: str, body: bytes, msg_id: str, at: int) -> dict[str, str]:
    """Sign ``body`` as a Standard Webhooks sender does."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    digest = hmac.new(key, f"{msg_id}.{at}.".encode() + body, hashlib.sha256).digest()
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(at),
        "webhook-signature": "v1," + base64.b64encode(digest).decode(),
    }


def multipart(
    fields: list[tuple[str, bytes]], *, text: Sequence[tuple[str, str]] = ()
) -> tuple[bytes, str]:
    """A multipart/form-data body of (name, content) file parts, after the
    ``text`` fields a form sends as plain values, and its content type."""
    boundary = f"herald-test-{os.getpid()}-{time.monotonic_ns()}"
    body = b""
    for name, value in text:
        body += (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
        ).encode()
    for name, content in fields:
        body += (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}";'
            f' filename="{name.rpartition("/")[2]}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        body += content + b"\r\n"
    body += f"--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def json(self) -> Any:
        return json.loads(self.body)


class RawSMTP:
    """A byte-level SMTP client, for what well-behaved libraries refuse to send."""

    def __init__(self, port: int, *, source: str = LOOPBACK, timeout: float = 10) -> None:
        self.sock = socket.create_connection(
            (LOOPBACK, port), timeout=timeout, source_address=(source, 0)
        )
        self.file = self.sock.makefile("rb")
        self.greeting = self.reply()

    def reply(self) -> tuple[int, str]:
        """One reply, joining the lines of a multi-line one."""
        lines = []
        while True:
            line = self.file.readline()
            if not line:
                raise ConnectionError("the server closed the connection")
            lines.append(line.decode().rstrip("\r\n"))
            if line[3:4] != b"-":
                return int(lines[0][:3]), "\n".join(lines)

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def command(self, line: str) -> tuple[int, str]:
        self.send(line.encode() + b"\r\n")
        return self.reply()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.file.close()
            self.sock.close()

    def __enter__(self) -> RawSMTP:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Herald:
    """The daemon, started as a user starts it: ``python -m gateway serve``,
    or with ``command`` and ``cwd``, an installed ``herald`` anywhere."""

    SECRET = "whsec_" + base64.b64encode(b"herald-test-secret-0123456789abc").decode()
    TOKEN = "test-admin-token"

    def __init__(
        self,
        workdir: Path,
        *,
        upstream: str | None,
        config: str = "",
        env: dict[str, str | None] | None = None,
        command: tuple[str, ...] = (sys.executable, "-m", "gateway"),
        cwd: Path = ROOT,
    ) -> None:
        self.workdir = workdir
        self.command = command
        self.cwd = cwd
        self.smtp_port = free_port()
        self.http_port = free_port()
        self.config_file = workdir / "herald.toml"
        self.config_file.write_text(config, encoding="utf-8")
        self.log_file = workdir / "herald.log"
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("HERALD_")},
            "HERALD_STATE_DIR": str(workdir / "state"),
            "HERALD_STORE": stores.url_for(workdir),
            "HERALD_SMTP_LISTEN": f"{LOOPBACK}:{self.smtp_port}",
            "HERALD_HTTP_LISTEN": f"{LOOPBACK}:{self.http_port}",
            "HERALD_WEBHOOK_SECRET": self.SECRET,
            "HERALD_ADMIN_TOKEN": self.TOKEN,
            "HERALD_HOSTNAME": "herald.test",
        }
        if upstream:
            self.env["HERALD_UPSTREAM"] = upstream
        for key, value in (env or {}).items():
            if value is None:
                self.env.pop(key, None)
            else:
                self.env[key] = value
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://{LOOPBACK}:{self.http_port}"

    def start(self) -> Herald:
        log = self.log_file.open("ab")
        self.process = subprocess.Popen(
            [*self.command, "serve", "-c", str(self.config_file)],
            cwd=self.cwd,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()

        def ready() -> bool:
            if self.process is not None and self.process.poll() is not None:
                raise AssertionError(f"herald exited early:\n{self.log()}")
            with contextlib.suppress(OSError):
                return self.request("GET", "/healthz").status == 200
            return False

        wait_until(ready, 20, "herald to answer /healthz")
        return self

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(sig)
        return self.process.wait(timeout)

    def log(self) -> str:
        return self.log_file.read_text(encoding="utf-8", errors="replace")

    def log_events(self) -> list[dict[str, Any]]:
        events = []
        for line in self.log().splitlines():
            with contextlib.suppress(ValueError):
                events.append(json.loads(line))
        return events

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        *,
        source: str | None = None,
    ) -> Response:
        if source is not None:
            connection = http.client.HTTPConnection(
                LOOPBACK, self.http_port, timeout=10, source_address=(source, 0)
            )
            try:
                connection.request(method, path, body=body, headers=headers or {})
                answer = connection.getresponse()
                return Response(answer.status, dict(answer.headers), answer.read())
            finally:
                connection.close()
        request = urllib.request.Request(
            self.base_url + path, data=body, method=method, headers=headers or {}
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                return Response(answer.status, dict(answer.headers), answer.read())
        except urllib.error.HTTPError as error:
            return Response(error.code, dict(error.headers), error.read())

    def post_event(
        self, event: dict[str, Any] | bytes, *, signed: bool = True, at: int | None = None
    ) -> Response:
        body = event if isinstance(event, bytes) else json.dumps(event).encode()
        headers = {"Content-Type": "application/json"}
        if signed:
            msg_id = event.get("id", "msg") if isinstance(event, dict) else "msg_raw"
            headers |= standard_webhooks_headers(
                self.SECRET, body, f"msg_{msg_id}", at or int(time.time())
            )
        return self.request("POST", "/v1/events", body, headers)

    def admin(
        self,
        path: str,
        token: str | None = TOKEN,
        *,
        method: str = "GET",
        body: Any = None,
        source: str | None = None,
    ) -> Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        return self.request(method, path, data, headers, source=source)

    def kill(self) -> None:
        """kill -9: no chance to finish anything."""
        assert self.process is not None
        self.process.kill()
        self.process.wait(15)

    def events(self, name: str) -> list[dict[str, Any]]:
        return [event for event in self.log_events() if event.get("event") == name]

    def admin_send(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        content_type: str = "application/json",
    ) -> Response:
        """An admin API call with a JSON body (or none), or raw bytes of ``content_type``."""
        data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
        headers = {"Authorization": f"Bearer {self.TOKEN}", "Content-Type": content_type}
        return self.request(method, path, data, headers)

    def run(self, run_id: str) -> dict[str, Any]:
        answer = self.admin(f"/v1/runs/{run_id}")
        assert answer.status == 200, answer.body
        result: dict[str, Any] = answer.json
        return result

    def wait_for_status(self, run_id: str, *statuses: str, timeout: float = 10) -> dict[str, Any]:
        final: dict[str, Any] = wait_until(
            lambda: (run := self.run(run_id))["status"] in statuses and run,
            timeout,
            f"run {run_id} to become {'/'.join(statuses)}",
        )
        return final

    @contextlib.contextmanager
    def smtp(self, source: str = LOOPBACK) -> Iterator[smtplib.SMTP]:
        with smtplib.SMTP(
            LOOPBACK,
            self.smtp_port,
            local_hostname="client.test",
            timeout=10,
            source_address=(source, 0),
        ) as client:
            yield client

    def raw_smtp(self, source: str = LOOPBACK) -> RawSMTP:
        return RawSMTP(self.smtp_port, source=source)

    @staticmethod
    def client_tls(cert: Path) -> ssl.SSLContext:
        """A client context that trusts only ``cert``."""
        return ssl.create_default_context(cafile=str(cert))

    def cli(
        self, *args: str, env: dict[str, str] | None = None, input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*self.command, *args],
            cwd=self.cwd,
            input=input,
            env={**self.env, "HERALD_CONFIG": str(self.config_file), **(env or {})},
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )


@dataclass(frozen=True)
class Callback:
    headers: dict[str, str]
    body: bytes


class CallbackServer:
    """A real aiohttp server on loopback that records the POSTs it gets;
    ``statuses`` scripts its answers (200 once they are used up)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.received: list[Callback] = []
        self.statuses: list[int] = []
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: Any = None

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}/hooks/herald"

    async def _handle(self, request: Any) -> Any:
        from aiohttp import web

        self.received.append(Callback(dict(request.headers), await request.read()))
        return web.Response(status=self.statuses.pop(0) if self.statuses else 200)

    async def _start(self) -> None:
        from aiohttp import web

        app = web.Application()
        app.router.add_post("/hooks/herald", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, LOOPBACK, self.port).start()

    def start(self) -> CallbackServer:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()


# Retries far apart, so that a deferred message waits for the operator.
OPERATOR_CONFIG = """
[queue]
retry_initial = "600s"
retry_max = "1h"
poll_interval = "0.1s"

[sender]
address = "notify@herald.test"

[upstream]
# The upstream is down until a test starts it; once up, it is tried at once:
# the breaker never opens, so no retry can fall inside its cooldown.
breaker_threshold = 1000000
"""


@pytest.fixture(scope="module", name="capture")
def running_upstream() -> Iterator[Capture]:
    """An upstream listening for the whole test module (a test module imports this)."""
    capture = Capture().start()
    yield capture
    capture.stop()


@pytest.fixture(scope="module", name="upstream")
def operator_upstream() -> Iterator[Capture]:
    """An upstream that does not listen until a test starts it (a conftest imports this)."""
    capture = Capture(free_port())
    yield capture
    capture.stop()


@pytest.fixture(scope="module", name="herald")
def operator_herald(
    tmp_path_factory: pytest.TempPathFactory, upstream: Capture
) -> Iterator[Herald]:
    """A daemon whose mail waits while ``upstream`` is down, for the tests of what an
    operator does: the admin API and the CLI (a conftest imports this)."""
    daemon = Herald(
        tmp_path_factory.mktemp("herald"), upstream=upstream.url, config=OPERATOR_CONFIG
    )
    daemon.start()
    yield daemon
    daemon.stop()
