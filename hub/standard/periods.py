"""Time in the domain rules: legal periods, counted in China Standard Time as the Civil Code counts them (pure).

A period of N years (or months) from a day ends at the end (24:00) of the corresponding day N years
later, or of the month's last day when that month has no such day (Civil Code, articles 200-204: the
day a period starts from is not counted). Times are judged in China Standard Time (UTC+8), and the
ends of the representable range (years 1 and 9999) never raise: a period that would pass them ends there.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from functools import cached_property
from typing import Any

from hub.errors import SchemaError
from hub.timeutil import from_us

#: China Standard Time, in which legal periods and calendar days are counted
CST = timezone(timedelta(hours=8), "CST")
#: no time in a payload is before the founding of the People's Republic (1949-10-01, Beijing time)
EARLIEST = datetime(1949, 10, 1, tzinfo=CST)
_LATEST = datetime.max.replace(tzinfo=UTC)
_EARLIEST_REPRESENTABLE = datetime.min.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Duration:
    """A legal period in calendar years, months and days."""

    years: int = 0
    months: int = 0
    days: int = 0

    @cached_property
    def shortest(self) -> timedelta:
        """A length this period always exceeds, whatever the day it starts (for the checks' quick path)."""
        return timedelta(days=self.years * 365 + self.months * 28 + self.days)

    def exceeded(self, start: datetime, t: datetime) -> bool:
        """Whether ``t`` is after the end of this period from ``start`` (:meth:`end_after`)."""
        return t - start > self.shortest and t > self.end_after(start)

    def precedes(self, t: datetime, end: datetime) -> bool:
        """Whether ``t`` is before the start of this period up to ``end`` (:meth:`start_before`)."""
        return end - t > self.shortest and t < self.start_before(end)

    @classmethod
    def parse(cls, spec: Any, what: str) -> Duration:
        """``{"years": 1}``, ``{"months": 6, "days": 15}``, ...; SchemaError naming ``what`` otherwise."""
        if not isinstance(spec, dict) or not spec or set(spec) - {"years", "months", "days"} or not all(
                isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in spec.values()):
            raise SchemaError(f"{what} is a period such as {{\"years\": 1}} or {{\"months\": 6, \"days\": 15}} "
                              f"(years, months, days: integers from 0), not {spec!r}")
        return cls(**spec)

    def __str__(self) -> str:
        parts = [(self.years, "year"), (self.months, "month"), (self.days, "day")]
        return " ".join(f"{n} {unit}{'s' if n != 1 else ''}" for n, unit in parts if n) or "0 days"

    def _shift(self, t: datetime, sign: int) -> datetime:
        """The start (00:00 CST) of the day this period after (sign 1) or before (-1) ``t``'s day in CST
        (the ends of the representable range where that day lies outside it)."""
        try:
            local = t.astimezone(CST)
        except OverflowError:  # the last hours of 9999 in UTC
            return _LATEST if sign > 0 else _EARLIEST_REPRESENTABLE
        months = local.year * 12 + local.month - 1 + sign * (self.years * 12 + self.months)
        year, month = divmod(months, 12)
        if not 1 <= year <= 9999:
            return _LATEST if sign > 0 else _EARLIEST_REPRESENTABLE
        day = min(local.day, calendar.monthrange(year, month + 1)[1])
        try:
            return datetime(year, month + 1, day, tzinfo=CST) + timedelta(days=sign * self.days)
        except OverflowError:
            return _LATEST if sign > 0 else _EARLIEST_REPRESENTABLE

    def end_after(self, t: datetime) -> datetime:
        """The latest instant of this period from ``t``: 24:00 CST of the corresponding day."""
        start = self._shift(t, 1)
        try:
            return start + timedelta(days=1)
        except OverflowError:
            return _LATEST

    def start_before(self, t: datetime) -> datetime:
        """The earliest instant of this period before ``t``: 00:00 CST of the corresponding day."""
        return self._shift(t, -1)


#: without a time_window rule, a time is at most this long after created_at
DEFAULT_FUTURE = Duration(years=50)


def as_time(value: Any) -> datetime:
    """A timestamp as decoded (``datetime``) or as read from JSON form (integer microseconds)."""
    return from_us(value) if isinstance(value, int) else value


def when(t: datetime) -> str:
    """A time for a detail: ISO 8601 in China Standard Time (UTC at the ends of the representable range)."""
    try:
        return t.astimezone(CST).isoformat(timespec="seconds")
    except OverflowError:
        return t.isoformat(timespec="seconds")


__all__ = ["CST", "DEFAULT_FUTURE", "EARLIEST", "Duration", "as_time", "when"]
