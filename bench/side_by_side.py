"""Herald beside its anchors, measured in one interleaved run.

A figure means something only beside its anchor in the same run: this
machine drifts from minute to minute, so every target is measured in every
round, round-robin, in an order rotated each round, and the medians over the
rounds are compared. Everything listens on 127.0.0.1 and stops at the end.

Targets:
  postfix   Postfix, from its own configuration directory, relaying to smtp-sink
  aiosmtpd  a bare aiosmtpd server whose handler answers "250 OK"
  aiohttp   a bare aiohttp app that reads the JSON body and answers 202
  herald    `herald serve` on a fresh state directory, relaying to smtp-sink

SMTP load comes from Postfix's smtp-source, webhook load from wrk with a Lua
script that posts one event per request, each with its own id. Herald's
webhook runs unsigned (no secret), its admin token is set, and it runs on
its defaults otherwise. Missing tools are installed with apt-get
(Debian's postfix and wrk packages), which needs root, as Postfix does.

    sudo .venv/bin/python bench/side_by_side.py [--rounds 3] [--messages 3000]
        [--size 2048] [--duration 10] [--quick] [--json FILE] [--compare TREE]

--compare TREE adds a second Herald, TREE/.venv/bin/herald (another checkout,
set up with its ./scripts/setup), to the same interleaved rounds, so that a
change is measured against what it changes in one run: the table then shows
its medians ("other") and this Herald's ratio to them.
"""

from __future__ import annotations

import argparse
import bisect
import contextlib
import json
import os
import platform
import re
import secrets
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

ROOT = Path(__file__).resolve().parents[1]
VENV_PYTHON = ROOT / ".venv" / "bin" / "python"
HERALD = ROOT / ".venv" / "bin" / "herald"
LOOPBACK = "127.0.0.1"
SENDER = "from@example.com"
RECIPIENT = "to@example.com"
# Postfix's programs live in /usr/sbin, which a plain user's PATH may lack.
SEARCH_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
TICKS = os.sysconf("SC_CLK_TCK")
# smtp-sink drops its privileges to this user; Debian's postfix package makes it.
SINK_USER = "postfix"
# Herald runs on its defaults: `[smtp] command_limit` does not count the
# commands of mail transactions, so `smtp-source -s 1 -m 3000 -d` reuses one
# connection to the end, as it does with Postfix.
HERALD_CONFIG = "# Herald's defaults\n"
POSTFIX_PRESEED = "postfix postfix/main_mailer_type select No configuration\n"

# wrk posts one event per request with this script, each with its own id.
EVENTS_LUA = Path(__file__).resolve().with_name("side_by_side_events.lua")

POSTFIX_SERVICES = """\
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""


class BenchError(Exception):
    """The benchmark cannot go on; the message says why."""


def tool(name: str) -> str | None:
    return shutil.which(name, path=SEARCH_PATH)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((LOOPBACK, 0))
        return int(probe.getsockname()[1])


def session_cpu(session: int) -> float:
    """CPU seconds (user and system) of every process in ``session``.

    Each target is started as the leader of its own session (Postfix's master
    makes one itself), so this counts Postfix's master and all its children,
    or Herald's one process. Children that have exited and been reaped are in
    their parent's cutime and cstime.
    """
    ticks = 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            text = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        # proc(5): fields after the command name; the 6th field is the
        # session, the 14th to 17th utime, stime, cutime and cstime.
        fields = text.rpartition(")")[2].split()
        if int(fields[3]) == session:
            ticks += sum(int(value) for value in fields[11:15])
    return ticks / TICKS


def loopback_only(ports: Sequence[int]) -> None:
    """Refuse to go on if anything listens on one of ``ports`` beyond loopback."""
    wanted = {f"{port:04X}" for port in ports}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(table) as lines:
            next(lines)
            for line in lines:
                local, state = line.split()[1], line.split()[3]
                address, _, port = local.partition(":")
                if state == "0A" and port in wanted and address != "0100007F":
                    raise BenchError(f"port {int(port, 16)} listens beyond loopback ({address})")


def wait_for_port(port: int, process: subprocess.Popen[bytes] | None, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise BenchError(f"the server for port {port} exited with {process.returncode}")
        with contextlib.suppress(OSError), socket.create_connection((LOOPBACK, port), 1):
            return
        time.sleep(0.1)
    raise BenchError(f"nothing answered on {LOOPBACK}:{port} within {timeout:.0f}s")


class Commands:
    """Every command the benchmark ran, to print at the end."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def note(
        self, argv: Sequence[str], env: dict[str, str] | None = None, stdin: str | None = None
    ) -> None:
        words = [f"{key}={shlex.quote(value)}" for key, value in (env or {}).items()]
        line = " ".join([*words, shlex.join(argv)])
        if stdin is not None:
            line = f"echo {shlex.quote(stdin.rstrip())} | {line}"
        if line not in self.lines:
            self.lines.append(line)


@dataclass
class Bench:
    """The temporary folder, the processes started in it, and their cleanup."""

    root: Path
    commands: Commands = field(default_factory=Commands)
    processes: list[tuple[str, subprocess.Popen[bytes]]] = field(default_factory=list)
    stoppers: list[Callable[[], None]] = field(default_factory=list)

    def run(
        self, argv: Sequence[str], *, env: dict[str, str] | None = None, stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        self.commands.note(argv, env, stdin)
        done = subprocess.run(
            argv,
            input=stdin,
            env={**os.environ, **(env or {})},
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise BenchError(
                f"{shlex.join(argv)} exited {done.returncode}: {done.stderr.strip()[-2000:]}"
            )
        return done

    def spawn(
        self,
        name: str,
        argv: Sequence[str],
        *,
        env: dict[str, str] | None = None,
        shown_env: dict[str, str] | None = None,
        stdout: int | None = None,
    ) -> subprocess.Popen[bytes]:
        """Start a long-running process as the leader of its own session."""
        self.commands.note(argv, shown_env)
        log = open(self.root / f"{name}.log", "wb")  # noqa: SIM115 (the child keeps it)
        process = subprocess.Popen(
            argv,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log if stdout is None else stdout,
            stderr=log,
            start_new_session=True,
        )
        log.close()
        self.processes.append((name, process))
        return process

    def stop_all(self) -> None:
        for stop in reversed(self.stoppers):
            with contextlib.suppress(Exception):
                stop()
        for _name, process in reversed(self.processes):
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGTERM)
        for _name, process in reversed(self.processes):
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)


class Sink:
    """smtp-sink on loopback, its running count of messages read as it goes."""

    MESSAGES = re.compile(rb"mesg=(\d+)")

    def __init__(self, bench: Bench, name: str) -> None:
        self.port = free_port()
        self.process = bench.spawn(
            name,
            [str(tool("smtp-sink")), "-c", "-u", SINK_USER, f"{LOOPBACK}:{self.port}", "1024"],
            stdout=subprocess.PIPE,
        )
        self.count = 0
        self.marks: list[tuple[int, float]] = [(0, time.perf_counter())]
        self.changed = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()
        wait_for_port(self.port, self.process, 10)

    def _read(self) -> None:
        assert self.process.stdout is not None
        stream, pending = self.process.stdout.fileno(), b""
        while chunk := os.read(stream, 65536):
            now = time.perf_counter()
            pending += chunk
            *updates, pending = pending.split(b"\r")
            for update in updates:
                if match := self.MESSAGES.search(update):
                    with self.changed:
                        if int(match[1]) > self.count:
                            self.count = int(match[1])
                            self.marks.append((self.count, now))
                            self.changed.notify_all()

    def wait_for(self, count: int, timeout: float) -> float:
        """When the sink had read ``count`` messages (perf_counter time)."""
        with self.changed:
            if not self.changed.wait_for(lambda: self.count >= count, timeout):
                raise BenchError(
                    f"smtp-sink on port {self.port} has {self.count} of {count}"
                    f" messages after {timeout:.0f}s"
                )
            index = bisect.bisect_left(self.marks, count, key=lambda mark: mark[0])
            return self.marks[index][1]


@dataclass
class Target:
    """One server under load: where it listens and how to read its CPU time."""

    name: str
    session: int
    smtp_port: int | None = None
    http_port: int | None = None
    sink: Sink | None = None
    # Herald: queue depth over the admin API, to know when all is relayed.
    queue_depth: Callable[[], int] | None = None

    def cpu(self) -> float:
        return session_cpu(self.session)


def start_postfix(bench: Bench, sink: Sink) -> Target:
    """Postfix from its own configuration directory, on loopback only."""
    home = bench.root / "postfix"
    etc, spool = home / "etc", home / "spool"
    etc.mkdir(parents=True)
    spool.mkdir()
    port = free_port()
    maillog = home / "maillog"
    (etc / "main.cf").write_text(
        f"""\
compatibility_level = 3.6
queue_directory = {spool}
data_directory = {home / "lib"}
mail_owner = postfix
setgid_group = postdrop
myhostname = postfix-bench.localdomain
mydestination =
local_recipient_maps =
alias_maps =
alias_database =
inet_interfaces = loopback-only
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject
relayhost = [{LOOPBACK}]:{sink.port}
default_transport = smtp
maillog_file = {maillog}
maillog_file_prefixes = {home}
"""
    )
    # No chroot: the services run in the spool as they are, needing no copy
    # of /etc inside it.
    listener = f"{LOOPBACK}:{port} inet  n       -       n       -       -       smtpd\n"
    (etc / "master.cf").write_text(listener + POSTFIX_SERVICES)
    postfix = str(tool("postfix"))
    try:
        bench.run([postfix, "-c", str(etc), "check"])
        bench.run([postfix, "-c", str(etc), "start"])
    except BenchError as error:
        log = maillog.read_text()[-2000:] if maillog.exists() else ""
        raise BenchError(f"{error}\n{log}") from None

    wait_for_port(port, None, 10)
    master = int((spool / "pid" / "master.pid").read_text())

    def stop() -> None:
        with contextlib.suppress(BenchError):
            bench.run([postfix, "-c", str(etc), "stop"])
        # Should the master outlive "postfix stop", end its session.
        with contextlib.suppress(ProcessLookupError):
            if os.getsid(master) == master:
                os.killpg(master, signal.SIGKILL)

    bench.stoppers.append(stop)
    if os.getsid(master) != master:
        raise BenchError(f"Postfix's master ({master}) does not lead its own session")
    return Target("postfix", master, smtp_port=port, sink=sink)


def start_herald(bench: Bench, sink: Sink, name: str = "herald", herald: Path = HERALD) -> Target:
    state = bench.root / name
    state.mkdir()
    config = state / "herald.toml"
    config.write_text(HERALD_CONFIG)
    smtp_port, http_port = free_port(), free_port()
    token = secrets.token_urlsafe(24)
    settings = {
        "HERALD_CONFIG": str(config),
        "HERALD_STATE_DIR": str(state),
        "HERALD_SMTP_LISTEN": f"{LOOPBACK}:{smtp_port}",
        "HERALD_HTTP_LISTEN": f"{LOOPBACK}:{http_port}",
        "HERALD_UPSTREAM": f"smtp://{LOOPBACK}:{sink.port}",
        "HERALD_ADMIN_TOKEN": token,
        "HERALD_HOSTNAME": "herald-bench.localdomain",
    }
    # Whatever HERALD_* the caller has set must not change what is measured.
    env = {key: value for key, value in os.environ.items() if not key.startswith("HERALD_")}
    shown = {**settings, "HERALD_ADMIN_TOKEN": "(random)"}
    process = bench.spawn(name, [str(herald), "serve"], env={**env, **settings}, shown_env=shown)
    wait_for_port(smtp_port, process, 30)
    wait_for_port(http_port, process, 30)

    def queue_depth() -> int:
        request = urllib.request.Request(
            f"http://{LOOPBACK}:{http_port}/v1/queue?limit=1",
            headers={"Authorization": f"Bearer {token}"},
        )
        with urllib.request.urlopen(request, timeout=10) as answer:
            return int(json.load(answer)["depth"])

    queue_depth()
    return Target(name, process.pid, smtp_port, http_port, sink, queue_depth)


def start_bare(bench: Bench, kind: str) -> Target:
    port = free_port()
    process = bench.spawn(
        f"bare-{kind}",
        [str(VENV_PYTHON), str(Path(__file__).resolve()), "--serve", kind, "--port", str(port)],
    )
    wait_for_port(port, process, 30)
    if kind == "smtp":
        return Target("aiosmtpd", process.pid, smtp_port=port)
    return Target("aiohttp", process.pid, http_port=port)


class FirstOutput:
    """Reads a child's output to its end, noting when the first byte came.

    smtp-source -c prints its counter as each DATA completes, so the first
    byte is the moment the first message was accepted.
    """

    def __init__(self, stream: Any) -> None:
        self.at: float | None = None
        self.data = b""
        self.thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self.thread.start()

    def _read(self, stream: Any) -> None:
        while chunk := os.read(stream.fileno(), 65536):
            if self.at is None:
                self.at = time.perf_counter()
            self.data += chunk


def settle(target: Target, timeout: float) -> None:
    """Wait until a relaying target's queue is empty (Herald's, over its API)."""
    if target.queue_depth is None:
        return
    deadline = time.monotonic() + timeout
    while target.queue_depth() > 0:
        if time.monotonic() > deadline:
            raise BenchError(f"{target.name}'s queue is not empty after {timeout:.0f}s")
        time.sleep(0.25)


def smtp_run(
    bench: Bench, target: Target, sessions: int, messages: int, size: int, timeout: float
) -> dict[str, Any]:
    assert target.smtp_port is not None
    argv = [
        str(tool("smtp-source")),
        *("-s", str(sessions), "-m", str(messages), "-l", str(size)),
        *("-d", "-c", "-f", SENDER, "-t", RECIPIENT),
        f"{LOOPBACK}:{target.smtp_port}",
    ]
    bench.commands.note(argv)
    sunk = target.sink.count if target.sink else 0
    load = os.getloadavg()[0]
    cpu_before = target.cpu()
    started = time.perf_counter()
    with open(bench.root / "smtp-source.err", "w+b") as errors:
        process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=errors)
        output = FirstOutput(process.stdout)
        try:
            code = process.wait(timeout=timeout)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        ended = time.perf_counter()
        cpu_accepted = target.cpu() - cpu_before
        output.thread.join(5)
        errors.seek(0)
        if code != 0 or output.at is None:
            text = errors.read().decode(errors="replace").strip()[-1000:]
            raise BenchError(f"{target.name}: smtp-source exited {code}: {text}")
    result: dict[str, Any] = {
        "messages": messages,
        "sessions": sessions,
        "size": size,
        "load_1min": load,
        "seconds": ended - started,
        "accept_per_s": messages / (ended - started),
        "cpu_accept_s": cpu_accepted,
    }
    cpu = cpu_accepted
    if target.sink is not None:
        last = target.sink.wait_for(sunk + messages, timeout)
        settle(target, timeout)
        # What the relaying target does after the last delivery (removing the
        # queue file, logging) belongs to this message too.
        time.sleep(0.5)
        cpu = target.cpu() - cpu_before
        result["delivered_seconds"] = last - output.at
        result["delivered_per_s"] = messages / (last - output.at)
        result["cpu_total_s"] = cpu
    result["cpu_us_per_msg"] = cpu / messages * 1e6
    return result


def webhook_run(
    bench: Bench,
    target: Target,
    connections: int,
    duration: float,
    tag: str,
    timeout: float,
    required: bool = True,
) -> dict[str, Any]:
    """One wrk run; ``required``: a run in which no request completed is an error."""
    assert target.http_port is not None
    argv = [
        str(tool("wrk")),
        *("-t", str(min(2, connections)), "-c", str(connections), "-d", f"{duration:g}s"),
        *("--timeout", "10s", "-s", str(EVENTS_LUA)),
        f"http://{LOOPBACK}:{target.http_port}/v1/events",
        "--",
    ]
    bench.commands.note([*argv, "ID_PREFIX"])
    sunk = target.sink.count if target.sink else 0
    load = os.getloadavg()[0]
    cpu_before = target.cpu()
    started = time.perf_counter()
    done = subprocess.run(
        [*argv, tag], capture_output=True, text=True, timeout=duration + 60, check=False
    )
    cpu_accepted = target.cpu() - cpu_before
    if done.returncode != 0:
        raise BenchError(f"{target.name}: wrk exited {done.returncode}: {done.stderr.strip()}")
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    accepted = summary["requests"] - summary["status"]
    result: dict[str, Any] = {
        "connections": connections,
        "load_1min": load,
        **summary,
        "accepted": accepted,
        "requests_per_s": summary["requests"] / (summary["duration_us"] / 1e6),
        "p50_ms": summary["p50_us"] / 1000,
        "p99_ms": summary["p99_us"] / 1000,
        "cpu_accept_s": cpu_accepted,
    }
    cpu = cpu_accepted
    if target.sink is not None:
        target.sink.wait_for(sunk + max(accepted, 0), timeout)
        # Requests still in flight when wrk stopped may have been accepted
        # too: they are relayed as well, and counted.
        settle(target, timeout)
        time.sleep(0.5)
        cpu = target.cpu() - cpu_before
        with target.sink.changed:
            delivered = target.sink.count - sunk
            last = target.sink.marks[-1][1]
        result["delivered"] = delivered
        result["delivered_per_s"] = delivered / (last - started)
        result["cpu_total_s"] = cpu
        accepted = delivered
    if accepted <= 0:
        if required:
            raise BenchError(f"{target.name}: wrk had no request accepted: {done.stdout}")
        return result
    result["cpu_us_per_msg"] = cpu / accepted * 1e6
    return result


@dataclass(frozen=True)
class Figure:
    key: str
    targets: tuple[str, ...]
    sessions: int = 0
    connections: int = 0


@dataclass(frozen=True)
class Row:
    label: str
    figure: str
    metric: str


def rows(sessions: int, connections: int) -> list[Row]:
    s, c = f"smtp-{sessions}", f"webhook-{connections}"
    return [
        Row("SMTP accept, 1 session, reused (msgs/s)", "smtp-1", "accept_per_s"),
        Row(f"SMTP accept, {sessions} sessions, reused (msgs/s)", s, "accept_per_s"),
        Row("SMTP delivered upstream, 1 session (msgs/s)", "smtp-1", "delivered_per_s"),
        Row(f"SMTP delivered upstream, {sessions} sessions (msgs/s)", s, "delivered_per_s"),
        Row("webhook accept, 1 connection (req/s)", "webhook-1", "requests_per_s"),
        Row("webhook accept, 1 connection, p50 (ms)", "webhook-1", "p50_ms"),
        Row(f"webhook accept, {connections} connections (req/s)", c, "requests_per_s"),
        Row(f"webhook accept, {connections} connections, p50 (ms)", c, "p50_ms"),
        Row(f"webhook accept, {connections} connections, p99 (ms)", c, "p99_ms"),
        Row(f"webhook delivered upstream, {connections} conn. (msgs/s)", c, "delivered_per_s"),
        Row("CPU per message, SMTP 1 session (us)", "smtp-1", "cpu_us_per_msg"),
        Row(f"CPU per message, SMTP {sessions} sessions (us)", s, "cpu_us_per_msg"),
        Row("CPU per event, webhook 1 connection (us)", "webhook-1", "cpu_us_per_msg"),
        Row(f"CPU per event, webhook {connections} connections (us)", c, "cpu_us_per_msg"),
    ]


def medians(runs: list[dict[str, Any]]) -> dict[str, dict[str, dict[str, float]]]:
    """figure -> target -> metric -> median over the rounds."""
    grouped: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for run in runs:
        grouped.setdefault((run["figure"], run["target"]), []).append(run["result"])
    table: dict[str, dict[str, dict[str, float]]] = {}
    for (figure, target), results in grouped.items():
        metrics = {key for result in results for key, value in result.items()}
        table.setdefault(figure, {})[target] = {
            key: statistics.median(result[key] for result in results)
            for key in sorted(metrics)
            if all(isinstance(result.get(key), int | float) for result in results)
        }
    return table


def print_table(table: dict[str, Any], layout: list[Row], out: TextIO) -> dict[str, Any]:
    """Each row's medians and Herald's ratios to its anchors; returns them too."""

    def number(value: float | None) -> str:
        if value is None:
            return "-"
        return f"{value:.2f}" if value < 10 else f"{value:.0f}"

    def ratio(top: float | None, bottom: float | None) -> float | None:
        return top / bottom if top is not None and bottom else None

    compared = any("other" in figure for figure in table.values())
    heads = ("Postfix", "bare", "Herald", "H/Postfix", "H/bare")
    if compared:
        heads += ("other", "H/other")
    print(f"\n{'median over the rounds':<52}" + "".join(f"{h:>10}" for h in heads), file=out)
    printed: dict[str, Any] = {}
    for row in layout:
        figure = table.get(row.figure, {})
        postfix = figure.get("postfix", {}).get(row.metric)
        bare = figure.get("aiosmtpd", figure.get("aiohttp", {})).get(row.metric)
        herald = figure.get("herald", {}).get(row.metric)
        if herald is None:
            continue
        cells = {
            "postfix": postfix,
            "bare": bare,
            "herald": herald,
            "herald/postfix": ratio(herald, postfix),
            "herald/bare": ratio(herald, bare),
        }
        if compared:
            other = figure.get("other", {}).get(row.metric)
            cells |= {"other": other, "herald/other": ratio(herald, other)}
        printed[row.label] = cells
        print(f"{row.label:<52}" + "".join(f"{number(c):>10}" for c in cells.values()), file=out)
    print("bare: aiosmtpd for SMTP, aiohttp for the webhook; H: Herald.", file=out)
    if compared:
        print("other: the Herald of --compare, in the same rounds.", file=out)
    return printed


def ensure_tools(bench: Bench) -> None:
    """Install Debian's postfix (smtp-source, smtp-sink) and wrk when missing."""
    wanted = {"postfix": ("postfix", "postconf", "smtp-source", "smtp-sink"), "wrk": ("wrk",)}
    missing = [package for package, names in wanted.items() if not all(map(tool, names))]
    if not missing:
        return
    if os.geteuid() != 0:
        raise BenchError(f"missing {', '.join(missing)}: run as root to install them")
    print(f"installing {', '.join(missing)} with apt-get", flush=True)
    bench.run(["apt-get", "update"])
    if "postfix" in missing:
        bench.run(["debconf-set-selections"], stdin=POSTFIX_PRESEED)
    bench.run(["apt-get", "install", "-y", *missing], env={"DEBIAN_FRONTEND": "noninteractive"})
    if "postfix" in missing:
        # "No configuration" starts no system Postfix; should one run all the
        # same, stop it, so nothing but this benchmark's listens.
        status = subprocess.run(
            [str(tool("postfix")), "status"], capture_output=True, check=False
        ).returncode
        if status == 0:
            bench.run([str(tool("postfix")), "stop"])


def versions(postfix_etc: Path) -> dict[str, str]:
    def output(argv: list[str]) -> str:
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
        return (done.stdout or done.stderr).strip().splitlines()[0] if done.returncode < 2 else ""

    probe = (
        "import aiohttp, aiosmtpd, gateway;"
        " print(aiohttp.__version__, aiosmtpd.__version__, gateway.__version__)"
    )
    aiohttp, aiosmtpd, herald = output([str(VENV_PYTHON), "-c", probe]).split()
    return {
        "postfix": output([str(tool("postconf")), "-c", str(postfix_etc), "-h", "mail_version"]),
        "wrk": output([str(tool("wrk")), "-v"]),
        "python": output([str(VENV_PYTHON), "-VV"]),
        "aiohttp": aiohttp,
        "aiosmtpd": aiosmtpd,
        "herald": herald,
        "herald_commit": output(["git", "-C", str(ROOT), "rev-parse", "HEAD"]),
    }


def rotated(names: tuple[str, ...], turn: int) -> list[str]:
    turn %= len(names)
    return [*names[turn:], *names[:turn]]


def benchmark(args: argparse.Namespace, bench: Bench, report: dict[str, Any]) -> None:
    ensure_tools(bench)
    if os.geteuid() != 0:
        raise BenchError("Postfix starts only as root: run this with sudo")
    if not HERALD.exists():
        raise BenchError(f"{HERALD} is missing: run ./scripts/setup first")
    # Postfix's services run as the postfix user and must reach their spool.
    bench.root.chmod(0o755)

    postfix_sink, herald_sink = Sink(bench, "postfix-sink"), Sink(bench, "herald-sink")
    targets = {
        "postfix": start_postfix(bench, postfix_sink),
        "aiosmtpd": start_bare(bench, "smtp"),
        "aiohttp": start_bare(bench, "http"),
        "herald": start_herald(bench, herald_sink),
    }
    ports = [postfix_sink.port, herald_sink.port]
    heralds: tuple[str, ...] = ("herald",)
    if args.compare is not None:
        other = args.compare.resolve() / ".venv" / "bin" / "herald"
        if not other.exists():
            raise BenchError(f"{other} is missing: run ./scripts/setup in {args.compare}")
        other_sink = Sink(bench, "other-sink")
        targets["other"] = start_herald(bench, other_sink, "other", other)
        ports.append(other_sink.port)
        heralds = ("herald", "other")
    for target in targets.values():
        ports += [port for port in (target.smtp_port, target.http_port) if port]
    loopback_only(ports)
    report["versions"] = versions(bench.root / "postfix" / "etc")
    report["postfix_main_cf"] = (bench.root / "postfix" / "etc" / "main.cf").read_text()
    report["postfix_master_cf"] = (bench.root / "postfix" / "etc" / "master.cf").read_text()
    report["herald_config"] = HERALD_CONFIG
    print(f"ports: {', '.join(f'{n}={t.smtp_port or t.http_port}' for n, t in targets.items())}")

    figures = [
        Figure("smtp-1", ("postfix", "aiosmtpd", *heralds), sessions=1),
        Figure(f"smtp-{args.sessions}", ("postfix", "aiosmtpd", *heralds), args.sessions),
        Figure("webhook-1", ("aiohttp", *heralds), connections=1),
        Figure(f"webhook-{args.connections}", ("aiohttp", *heralds), 0, args.connections),
    ]

    def measure(figure: Figure, name: str, tag: str, scale: float = 1) -> dict[str, Any]:
        target = targets[name]
        if figure.sessions:
            count = max(int(args.messages * scale), 1)
            return smtp_run(bench, target, figure.sessions, count, args.size, args.timeout)
        # A loaded Herald may answer none of 50 connections within one
        # second: the warm-up takes a few, and may see no answer at all.
        seconds = args.duration if scale == 1 else max(args.duration * scale, 3)
        return webhook_run(
            bench, target, figure.connections, seconds, tag, args.timeout, required=scale == 1
        )

    # A short pass first: Postfix forks its services, Python warms its
    # caches; none of it is recorded.
    print("warming up", flush=True)
    for figure in figures:
        for name in figure.targets:
            measure(figure, name, f"warm-{figure.key}-{name}", scale=0.05)

    runs: list[dict[str, Any]] = report["runs"]
    for round_number in range(args.rounds):
        for figure in figures:
            order = rotated(figure.targets, round_number)
            for name in order:
                tag = f"r{round_number}-{figure.key}-{name}"
                result = measure(figure, name, tag)
                runs.append(
                    {"round": round_number + 1, "figure": figure.key, "target": name}
                    | {"order": order, "result": result}
                )
                rate = result.get("accept_per_s") or result.get("requests_per_s")
                extra = ""
                if "delivered_per_s" in result:
                    extra = f", {result['delivered_per_s']:.0f}/s delivered"
                if "p50_ms" in result:
                    extra += f", p50 {result['p50_ms']:.2f} ms, p99 {result['p99_ms']:.2f} ms"
                print(
                    f"round {round_number + 1}/{args.rounds} {figure.key:<11} {name:<9}"
                    f" {rate:8.0f}/s accepted{extra}, CPU {result['cpu_us_per_msg']:.0f} us/msg",
                    flush=True,
                )


def serve(kind: str, port: int) -> None:
    """The bare anchors: as little as aiosmtpd and aiohttp allow."""
    import asyncio

    if kind == "smtp":
        from aiosmtpd.smtp import SMTP

        class Accept:
            async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
                return "250 OK"

        async def main() -> None:
            loop = asyncio.get_running_loop()
            server = await loop.create_server(
                lambda: SMTP(Accept(), hostname="aiosmtpd-bench.localdomain"), LOOPBACK, port
            )
            await server.serve_forever()

        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(main())
        return

    from aiohttp import web

    async def accept(request: web.Request) -> web.Response:
        await request.json()
        return web.Response(status=202)

    app = web.Application()
    app.router.add_post("/v1/events", accept)
    web.run_app(app, host=LOOPBACK, port=port, access_log=None, print=None)


def options(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, help="rounds over every target (default 3)")
    parser.add_argument("--messages", type=int, help="messages per SMTP run (default 3000)")
    parser.add_argument("--size", type=int, default=2048, help="message payload bytes (2048)")
    parser.add_argument("--sessions", type=int, default=20, help="SMTP sessions (default 20)")
    parser.add_argument("--connections", type=int, default=50, help="HTTP connections (50)")
    parser.add_argument("--duration", type=float, help="seconds per wrk run (default 10)")
    parser.add_argument("--timeout", type=float, default=600, help="longest wait, seconds (600)")
    parser.add_argument("--quick", action="store_true", help="a smoke run of about 30 s")
    parser.add_argument("--json", type=Path, help="write every raw number to this file")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument("--compare", type=Path, help="another Herald tree to measure alongside")
    parser.add_argument("--serve", choices=("smtp", "http"), help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    quick = {"rounds": 1, "messages": 100, "duration": 2.0}
    full = {"rounds": 3, "messages": 3000, "duration": 10.0}
    for key, value in (quick if args.quick else full).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    return args


@contextlib.contextmanager
def stopped_on_signals() -> Iterator[None]:
    """SIGINT, SIGTERM and SIGHUP unwind, so every process started is stopped.

    SIGINT too: a shell starts a background job with it ignored.
    """

    def leave(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    caught = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    previous = {sig: signal.signal(sig, leave) for sig in caught}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def main() -> int:
    args = options()
    if args.serve:
        serve(args.serve, args.port)
        return 0
    report: dict[str, Any] = {
        "options": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "load_before": os.getloadavg(),
        "runs": [],
    }
    print(f"load average before: {' '.join(f'{x:.2f}' for x in report['load_before'])}")
    started = time.monotonic()
    root = Path(tempfile.mkdtemp(prefix="herald-side-by-side-"))
    bench = Bench(root)
    failed: str | None = None
    try:
        with stopped_on_signals():
            benchmark(args, bench, report)
    except (BenchError, KeyboardInterrupt, subprocess.TimeoutExpired) as error:
        failed = str(error) or type(error).__name__
    finally:
        bench.stop_all()
    report["load_after"] = os.getloadavg()
    report["seconds"] = time.monotonic() - started
    report["commands"] = bench.commands.lines
    report["medians"] = medians(report["runs"])
    layout = rows(args.sessions, args.connections)
    if report["runs"]:
        report["table"] = print_table(report["medians"], layout, sys.stdout)
    print("\ncommands run:")
    for line in bench.commands.lines:
        print(f"  {line}")
    print(f"\nload average after: {' '.join(f'{x:.2f}' for x in report['load_after'])}")
    print(f"took {report['seconds']:.0f}s")
    if failed:
        report["failed"] = failed
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
        print(f"raw numbers in {args.json}")
    if failed or args.keep:
        print(f"logs kept in {root}")
    else:
        shutil.rmtree(root, ignore_errors=True)
    if failed:
        print(f"side_by_side: {failed}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
