"""The content worker processes: work runs in them, and they end with the
daemon that started them, however it ended."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from gateway.content import workers

# A daemon in miniature: it starts the pool, has one piece of work done, notes
# the worker's process id and is killed before it can stop the pool.
_KILLED = """
import asyncio, os, signal, sys
from gateway.content import workers

async def main():
    worker = await workers.run(os.getpid)
    with open(sys.argv[1], "w") as out:
        out.write(str(worker))
    os.kill(os.getpid(), signal.SIGKILL)

if __name__ == "__main__":
    asyncio.run(main())
"""


def _running(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie, ended but not reaped, is not)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in status


async def test_work_runs_in_another_process() -> None:
    try:
        assert await workers.run(os.getpid) != os.getpid()
    finally:
        workers.shutdown()


def test_the_workers_end_when_their_daemon_is_killed(tmp_path: Path) -> None:
    """kill -9 gives the daemon no chance to stop its workers; they notice and end."""
    script = tmp_path / "daemon.py"
    script.write_text(_KILLED, encoding="utf-8")
    noted = tmp_path / "worker.pid"
    done = subprocess.run(
        [sys.executable, str(script), str(noted)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        timeout=60,
        check=False,
    )
    assert done.returncode == -9
    worker = int(noted.read_text())
    deadline = time.monotonic() + 20
    while _running(worker) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _running(worker), f"worker {worker} outlived its daemon"
