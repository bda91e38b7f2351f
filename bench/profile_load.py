"""Where a running Herald spends its time under the side-by-side load.

Starts ``herald serve`` as ``side_by_side.py`` does (fresh SQLite state,
relaying to its own ``smtp-sink``, all on 127.0.0.1), puts one load on it
(``smtp``: ``smtp-source`` with 20 sessions; ``webhook``: ``wrk`` with 50
connections) and records the daemon with py-spy meanwhile, its subprocesses
(the compose workers) included. It prints the functions that hold the most
samples, by their own time and with what they call, and keeps the raw
profile in speedscope's format with ``--out``.

    .venv/bin/python bench/profile_load.py smtp --messages 3000
    .venv/bin/python bench/profile_load.py webhook --duration 10

py-spy must be on the PATH or in .venv (``.venv/bin/pip install py-spy``);
reading another process needs root or ptrace rights.
"""

from __future__ import annotations

import argparse
import collections
import importlib.util
import json
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
_spec = importlib.util.spec_from_file_location("side_by_side", HERE / "side_by_side.py")
assert _spec is not None
assert _spec.loader is not None
side = importlib.util.module_from_spec(_spec)
sys.modules["side_by_side"] = side
_spec.loader.exec_module(side)


def py_spy() -> str:
    found = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(found).exists():
        raise side.BenchError("py-spy is missing: .venv/bin/pip install py-spy")
    return found


def top(profile: Path, count: int) -> tuple[list[tuple[str, float, float]], dict[str, float]]:
    """The functions with the most samples in a speedscope ``profile``
    (frame, percent on top of the stack, percent anywhere in it), and each
    thread's percent of the samples."""
    data = json.loads(profile.read_text())
    frames = data["shared"]["frames"]
    own: collections.Counter[int] = collections.Counter()
    total: collections.Counter[int] = collections.Counter()
    threads: collections.Counter[str] = collections.Counter()
    samples = 0.0
    for part in data["profiles"]:
        for stack, weight in zip(part["samples"], part["weights"], strict=True):
            samples += weight
            threads[part["name"]] += weight
            if stack:
                own[stack[-1]] += weight
            for index in set(stack):
                total[index] += weight

    def name(index: int) -> str:
        frame = frames[index]
        where = Path(frame.get("file") or "?")
        return f"{frame['name']} ({'/'.join(where.parts[-2:])}:{frame.get('line', '?')})"

    ranked = sorted(total, key=lambda i: (own[i], total[i]), reverse=True)[:count]
    rows = [(name(i), 100 * own[i] / samples, 100 * total[i] / samples) for i in ranked]
    return rows, {thread: 100 * weight / samples for thread, weight in threads.most_common()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("load", choices=("smtp", "webhook"))
    parser.add_argument("--messages", type=int, default=3000, help="SMTP messages (3000)")
    parser.add_argument("--sessions", type=int, default=20, help="SMTP sessions (20)")
    parser.add_argument("--connections", type=int, default=50, help="HTTP connections (50)")
    parser.add_argument("--duration", type=float, default=10, help="seconds of wrk (10)")
    parser.add_argument("--rate", type=int, default=200, help="py-spy samples per second")
    parser.add_argument("--top", type=int, default=30, help="functions to print (30)")
    parser.add_argument("--out", type=Path, help="keep the profile here (speedscope JSON)")
    args = parser.parse_args()
    side.ensure_tools(side.Bench(Path(tempfile.gettempdir())))
    root = Path(tempfile.mkdtemp(prefix="herald-profile-"))
    bench = side.Bench(root)
    raw = root / "profile.json"
    try:
        herald = side.start_herald(bench, side.Sink(bench, "herald-sink"))
        side.loopback_only([p for p in (herald.smtp_port, herald.http_port) if p])
        # A short warm-up, not recorded: imports, caches, the compose workers.
        run(bench, herald, args, scale=0.05)
        recorder = subprocess.Popen(
            [
                *(py_spy(), "record", "--pid", str(herald.session), "--subprocesses"),
                *("--nonblocking", "--rate", str(args.rate), "--format", "speedscope"),
                *("--output", str(raw)),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            result = run(bench, herald, args)
        finally:
            recorder.send_signal(2)
            recorder.wait(timeout=60)
        rows, threads = top(raw, args.top)
    finally:
        bench.stop_all()
    shown = {k: round(v, 1) for k, v in result.items() if isinstance(v, float)}
    print(f"{args.load}: {json.dumps(shown)}")
    for thread, share in threads.items():
        print(f"{share:6.1f}% of the samples in {thread}")
    print("own % / with callees %")
    for frame, own, total in rows:
        print(f"{own:6.1f} {total:6.1f}  {frame}")
    if args.out is not None:
        shutil.copy(raw, args.out)
        print(f"profile in {args.out} (speedscope JSON)")
    shutil.rmtree(root, ignore_errors=True)
    return 0


def run(bench: Any, herald: Any, args: argparse.Namespace, scale: float = 1) -> dict[str, Any]:
    if args.load == "smtp":
        count = max(int(args.messages * scale), 1)
        result: dict[str, Any] = side.smtp_run(bench, herald, args.sessions, count, 2048, 600)
        return result
    seconds = max(args.duration * scale, 2)
    tag = f"profile-{threading.get_ident()}-{scale}"
    webhook: dict[str, Any] = side.webhook_run(
        bench, herald, args.connections, seconds, tag, 600, required=scale == 1
    )
    return webhook


if __name__ == "__main__":
    sys.exit(main())
