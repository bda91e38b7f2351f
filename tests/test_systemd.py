"""Tests for gateway/_systemd.py: sd_notify(3) over a real datagram socket, as
systemd listens for a Type=notify service."""

from __future__ import annotations

import secrets
import socket
from pathlib import Path

import pytest

from gateway import _systemd


def test_a_state_reaches_the_notify_socket(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """READY=1 arrives as one datagram on the socket NOTIFY_SOCKET names."""
    path = tmp_path / "notify"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as listener:
        listener.bind(str(path))
        listener.settimeout(5)
        monkeypatch.setenv("NOTIFY_SOCKET", str(path))
        assert _systemd.notify("READY=1") is True
        assert listener.recv(100) == b"READY=1"


def test_an_abstract_socket_is_named_with_an_at_sign(monkeypatch: pytest.MonkeyPatch) -> None:
    """``@name`` is the abstract socket ``\\0name``, as systemd may pass it."""
    name = f"herald-test-{secrets.token_hex(6)}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as listener:
        listener.bind("\0" + name)
        listener.settimeout(5)
        monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)
        assert _systemd.notify("STATUS=serving") is True
        assert listener.recv(100) == b"STATUS=serving"


def test_without_systemd_nothing_is_sent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No NOTIFY_SOCKET, or one nobody listens on, answers False and raises nothing."""
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert _systemd.notify("READY=1") is False
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "nobody"))
    assert _systemd.notify("READY=1") is False
