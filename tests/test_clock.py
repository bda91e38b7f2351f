"""Tests for gateway/clock.py: times leave Herald as RFC 3339 in UTC."""

from __future__ import annotations

import re
from datetime import datetime

from hypothesis import given
from hypothesis import strategies as st

from gateway.clock import rfc3339


def test_a_time_is_written_in_utc_to_the_millisecond() -> None:
    """RFC 3339 §5.6 with a Z, milliseconds always shown, never the local zone."""
    assert rfc3339(1_767_225_600.0) == "2026-01-01T00:00:00.000Z"
    assert rfc3339(1_767_322_245.6789) == "2026-01-02T02:50:45.678Z"


@given(st.floats(min_value=0, max_value=4_102_444_800, allow_nan=False))
def test_every_time_reads_back_within_a_millisecond(at: float) -> None:
    """What a client parses is the time Herald meant, to the millisecond."""
    text = rfc3339(at)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", text)
    assert abs(datetime.fromisoformat(text).timestamp() - at) < 0.001
