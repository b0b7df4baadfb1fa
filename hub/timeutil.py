"""Time as the hub stores it: integer microseconds since the Unix epoch, UTC."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICRO = timedelta(microseconds=1)


def now_us() -> int:
    return time.time_ns() // 1000


def to_us(value: datetime | int) -> int:
    if isinstance(value, int):
        return value
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return (value - EPOCH) // _MICRO


def from_us(us: int) -> datetime:
    return EPOCH + timedelta(microseconds=us)


def iso(us: int) -> str:
    """RFC 3339 text in UTC with microseconds, e.g. 2026-11-22T08:00:00.000000Z."""
    # isoformat, not strftime: strftime's %Y does not pad years before 1000 to four digits on Linux
    return from_us(us).isoformat(timespec="microseconds").replace("+00:00", "Z")
