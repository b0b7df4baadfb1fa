"""Time as the hub stores it: integer microseconds since the Unix epoch, UTC."""

from __future__ import annotations

import re
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


#: an RFC 3339 date-time as the hub takes it: seconds required, at most microseconds (what a
#: timestamp-micros holds), a zone (Z or +hh:mm) required
_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?(?:[Zz]|[+-]\d{2}:\d{2})")

#: what :func:`parse_rfc3339` takes, for messages that refuse something else
RFC3339_FORM = "RFC 3339 with seconds and a zone, at most 6 fractional digits (e.g. 2026-11-22T09:00:00+08:00)"


def parse_rfc3339(text: str) -> datetime | None:
    """``text`` as an aware datetime if it is an RFC 3339 date-time of :data:`RFC3339_FORM`; else None
    (no seconds, more than microseconds, no zone, or no such date)."""
    if _RFC3339.fullmatch(text) is None:
        return None
    try:
        return datetime.fromisoformat(text[:-1] + "+00:00" if text[-1] in "Zz" else text)
    except ValueError:  # a well-formed text naming no date, e.g. February 30
        return None
