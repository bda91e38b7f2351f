"""Tests for gateway/cli/serve.py: ``herald serve`` fails at start clearly and
at once; ``herald check`` fails for what would make the daemon refuse events."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import stores
from tests.integration.harness import LOOPBACK, ROOT, Herald, free_port

SHIPPED = ROOT / "templates"


def herald(
    *args: str, workdir: Path, env: dict[str, str] | None = None, timeout: float = 30
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway", *args],
        cwd=ROOT,
        env={
            **{k: v for k, v in os.environ.items() if not k.startswith("HERALD_")},
            "HERALD_STATE_DIR": str(workdir / "state"),
            "HERALD_HOSTNAME": "herald.test",
            **(env or {}),
        },
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        sock.listen()
        yield sock.getsockname()[1]


@pytest.mark.parametrize(
    ("variable", "setting"),
    [("HERALD_SMTP_LISTEN", "[smtp] listen"), ("HERALD_HTTP_LISTEN", "[http] listen")],
)
def test_a_busy_port_is_one_line_and_a_prompt_exit(
    tmp_path: Path, busy_port: int, variable: str, setting: str
) -> None:
    """A listener address already in use ends ``herald serve`` within seconds,
    non-zero, with one line that names the address and the setting."""
    ports = {
        "HERALD_SMTP_LISTEN": f"{LOOPBACK}:{free_port()}",
        "HERALD_HTTP_LISTEN": f"{LOOPBACK}:{free_port()}",
        variable: f"{LOOPBACK}:{busy_port}",
        "HERALD_STORE": stores.url_for(tmp_path),
    }
    started = time.monotonic()
    done = herald("serve", workdir=tmp_path, env=ports, timeout=20)
    assert time.monotonic() - started < 15
    assert done.returncode != 0
    assert done.stderr.splitlines() == [
        f"herald: cannot listen on {LOOPBACK}:{busy_port} ({setting} / {variable}):"
        " address already in use"
    ]


def test_a_second_daemon_on_the_same_port_exits_and_the_first_serves_on(
    tmp_path: Path,
) -> None:
    """Starting a second daemon on the first one's SMTP port fails at once and
    leaves the first answering."""
    for name in ("first", "second"):
        (tmp_path / name).mkdir()
    first = Herald(tmp_path / "first", upstream=None).start()
    try:
        done = herald(
            "serve",
            workdir=tmp_path / "second",
            env={
                "HERALD_SMTP_LISTEN": f"{LOOPBACK}:{first.smtp_port}",
                "HERALD_HTTP_LISTEN": f"{LOOPBACK}:{free_port()}",
                "HERALD_STORE": stores.url_for(tmp_path / "second"),
            },
            timeout=20,
        )
        assert done.returncode == 1
        assert done.stderr.splitlines() == [
            f"herald: cannot listen on {LOOPBACK}:{first.smtp_port}"
            " ([smtp] listen / HERALD_SMTP_LISTEN): address already in use"
        ]
        assert first.request("GET", "/healthz").status == 200
    finally:
        first.stop()


def test_a_name_that_does_not_resolve_is_one_line(tmp_path: Path) -> None:
    """A listener host that cannot be resolved is named with its setting."""
    done = herald(
        "serve",
        workdir=tmp_path,
        env={
            "HERALD_SMTP_LISTEN": "no-such-host.invalid:2525",
            "HERALD_HTTP_LISTEN": f"{LOOPBACK}:{free_port()}",
            "HERALD_STORE": stores.url_for(tmp_path),
        },
    )
    assert done.returncode == 1
    [line] = done.stderr.splitlines()
    assert line.startswith(
        "herald: cannot listen on no-such-host.invalid:2525 ([smtp] listen / HERALD_SMTP_LISTEN): "
    )


def check(tmp_path: Path, templates: Path) -> subprocess.CompletedProcess[str]:
    config = tmp_path / "herald.toml"
    config.write_text(f'[templates]\ndir = "{templates}"\n', encoding="utf-8")
    return herald("check", "-c", str(config), workdir=tmp_path)


def test_check_passes_on_the_shipped_templates(tmp_path: Path) -> None:
    """The shipped templates pass ``herald check``."""
    done = check(tmp_path, SHIPPED)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""


def test_check_fails_without_the_templates_folder(tmp_path: Path) -> None:
    """A templates folder that does not exist fails the check, naming it."""
    done = check(tmp_path, tmp_path / "missing")
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        f"herald: templates: the folder {tmp_path / 'missing'} does not exist ([templates] dir)"
    ]


def test_check_fails_on_a_folder_with_no_email_type(tmp_path: Path) -> None:
    """A templates folder with no email type in it fails the check."""
    (tmp_path / "empty").mkdir()
    done = check(tmp_path, tmp_path / "empty")
    assert done.returncode == 1
    assert "holds no email type" in done.stderr


def test_check_names_each_template_the_daemon_would_refuse(tmp_path: Path) -> None:
    """A type the catalog does not describe and a template with an unknown tag
    each get their own line."""
    folder = tmp_path / "templates"
    shutil.copytree(SHIPPED, folder)
    (folder / "account.created" / "subject.txt").write_text("Hi {{ recipient.nam }}\n")
    (folder / "new.type").mkdir()
    (folder / "new.type" / "subject.txt").write_text("Hello\n")
    (folder / "new.type" / "body.html").write_text("<p>Hello</p>\n")
    done = check(tmp_path, folder)
    assert done.returncode == 1
    lines = done.stderr.splitlines()
    assert len(lines) == 2, lines
    assert lines[0].startswith("herald: templates: account.created: subject: subject.txt, line 1:")
    assert "did you mean recipient.name?" in lines[0]
    assert (
        lines[1] == "herald: templates: new.type is not described in the tag catalog catalog.toml"
    )


def test_output_piped_into_a_closed_reader_ends_quietly(tmp_path: Path) -> None:
    """``herald tags`` into a reader that has already gone prints no
    BrokenPipeError traceback."""
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("HERALD_")},
        "HERALD_STATE_DIR": str(tmp_path / "state"),
    }
    # ``true`` exits long before Herald has imported what it needs, so
    # Herald's first write meets a closed pipe.
    done = subprocess.run(
        ["bash", "-c", f"'{sys.executable}' -m gateway tags | true"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert "Traceback" not in done.stderr
    assert "BrokenPipeError" not in done.stderr
    assert done.stderr == ""
