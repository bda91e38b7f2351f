"""The processes CPU-bound content work runs in: rendering, MIME and zipping
spread over the machine's cores.

A render holds the GIL while it runs, so threads only take turns on one
core; a definition run of many invoices would leave the other cores idle.
The pool has one process per core this process may run on, started on first
use (an idle daemon starts none) with the ``forkserver`` method: forking a
daemon that runs threads (the store's, the render threads) could copy a held
lock into the child.

Each process builds its own ``Templates`` (the sandbox, its limits and its
compiled templates) once per templates folder and limits, so the sandbox
keeps every limit there as it does in the daemon: a render that runs past
``render_timeout`` stops with ``TemplateLimitError`` in the worker, which
the caller receives as it would from a render thread.

A worker ends itself once the daemon that started it is gone, even when the
daemon was killed (``kill -9``, the kernel's out-of-memory killer) and had
no chance to stop it: the workers hold both ends of their work queue's pipe,
so no end-of-file would ever tell them.
"""

from __future__ import annotations

import asyncio
import functools
import multiprocessing
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import ParamSpec, TypeVar

from gateway.content.templating import Limits, Templates

P = ParamSpec("P")
T = TypeVar("T")


def size() -> int:
    """How many processes: one per core this process may run on."""
    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except (AttributeError, OSError):  # not on Linux, or the call is filtered
        return os.cpu_count() or 1


_pool: ProcessPoolExecutor | None = None
# In a worker: the Templates built for each (folder, limits).
_templates: dict[tuple[str, Limits], Templates] = {}


# How often a worker looks whether the daemon that started it still runs.
_WATCH_EVERY = 1.0


def _executor() -> ProcessPoolExecutor:
    global _pool
    if _pool is None:
        _pool = ProcessPoolExecutor(
            size(),
            mp_context=multiprocessing.get_context("forkserver"),
            initializer=_watch,
            initargs=(os.getpid(),),
        )
    return _pool


def _watch(daemon: int) -> None:
    """In each worker, as it starts: a thread that ends the worker once the
    process ``daemon`` is gone (the worker's parent is the fork server, which
    outlives it, so the parent's id says nothing)."""

    def watch() -> None:
        while True:
            time.sleep(_WATCH_EVERY)
            try:
                os.kill(daemon, 0)
            except ProcessLookupError:
                os._exit(0)
            except PermissionError:  # the id was taken by another user's process
                os._exit(0)

    threading.Thread(target=watch, name="herald-daemon-watch", daemon=True).start()


async def run(work: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Run ``work`` (a module-level function, its arguments picklable) in a
    worker process. A pool whose process died (killed, out of memory) is
    replaced for the next call; this call raises ``BrokenProcessPool``."""
    global _pool
    pool = _executor()
    try:
        return await asyncio.get_running_loop().run_in_executor(
            pool, functools.partial(work, *args, **kwargs)
        )
    except BrokenProcessPool:
        if _pool is pool:
            _pool = None
        pool.shutdown(wait=False, cancel_futures=True)
        raise


def shutdown() -> None:
    """Stop the worker processes (they are started again when next needed)."""
    global _pool
    if _pool is not None:
        _pool.shutdown(wait=True, cancel_futures=True)
        _pool = None


def templates(directory: Path, limits: Limits) -> Templates:
    """This process's ``Templates`` for ``directory`` and ``limits``, built once."""
    key = (str(directory), limits)
    held = _templates.get(key)
    if held is None:
        if len(_templates) >= 8:
            # A reload that names another folder or other limits leaves the
            # old ones unused; a handful is all a daemon ever needs at once.
            _templates.clear()
        held = _templates[key] = Templates(directory, limits)
    return held
