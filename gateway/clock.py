"""Time in Herald: POSIX seconds (floats) inside, RFC 3339 at its edges.

A ``Clock`` is what reads the time; the store takes one, so that a test can
move time forward instead of sleeping through a lease.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

# Seconds since the epoch, as time.time answers.
Clock = Callable[[], float]


def rfc3339(at: float) -> str:
    """``at`` as RFC 3339 (§5.6) in UTC, to the millisecond: 2026-01-02T03:04:05.678Z."""
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
