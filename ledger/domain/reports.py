"""Report ranges and rates: parsing "YYYY-MM-DD" days, bucket lengths, range limits, basis-point rates.

Plain code: the report queries (ledger/store/analytics.py) take what these functions checked.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from enum import Enum

from ledger.errors import InvalidField

_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
FIRST_YEAR = 2000
MAX_BUCKETS = 366
"""At most this many buckets in one volume report (a year of days, seven years of weeks, 30 of months)."""
MAX_PERFORMANCE_DAYS = 366
"""At most this many days of invoice creation in one performance report."""


class Bucket(Enum):
    """A report's bucket length; the value is Postgres's `date_trunc` unit."""

    DAY = "day"
    WEEK = "week"
    MONTH = "month"

    def start(self, day: dt.date) -> dt.date:
        """The first day of the bucket holding `day` (weeks start on Monday)."""
        if self is Bucket.DAY:
            return day
        if self is Bucket.WEEK:
            return day - dt.timedelta(days=day.weekday())
        return day.replace(day=1)

    def following(self, start: dt.date) -> dt.date:
        """The first day of the bucket after the one starting on `start`."""
        if self is Bucket.DAY:
            return start + dt.timedelta(days=1)
        if self is Bucket.WEEK:
            return start + dt.timedelta(days=7)
        return dt.date(start.year + start.month // 12, start.month % 12 + 1, 1)

    def starts(self, first: dt.date, last: dt.date) -> list[dt.date]:
        """The first day of every bucket touching [first, last], oldest first."""
        found: list[dt.date] = []
        current = self.start(first)
        while current <= last:
            found.append(current)
            current = self.following(current)
        return found


@dataclass(frozen=True)
class DayRange:
    """UTC days `first` to `last`, both included."""

    first: dt.date
    last: dt.date

    @property
    def start(self) -> dt.datetime:
        """The first instant counted."""
        return dt.datetime.combine(self.first, dt.time(), tzinfo=dt.UTC)

    @property
    def end(self) -> dt.datetime:
        """The first instant not counted."""
        return dt.datetime.combine(self.last + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)


def parse_day(value: str, field: str) -> dt.date:
    """A "YYYY-MM-DD" day of year 2000 or later, refusing anything else with the field's name."""
    if not value:
        raise InvalidField(f'{field} is required, as "YYYY-MM-DD"', reason="FIELD_REQUIRED", field=field)
    try:
        if _DATE.fullmatch(value) is None:
            raise ValueError(value)
        day = dt.date.fromisoformat(value)
    except ValueError:
        raise InvalidField(
            f'{field} must be a date "YYYY-MM-DD", e.g. "2026-11-26"', reason="DATE_INVALID", field=field
        ) from None
    if day.year < FIRST_YEAR:
        raise InvalidField(f"{field} must be in {FIRST_YEAR} or later", reason="DATE_INVALID", field=field)
    return day


def day_range(start_date: str, end_date: str, today: dt.date) -> DayRange:
    """The range a request names, refusing a reversed one or one ending after `today`."""
    first = parse_day(start_date, "start_date")
    last = parse_day(end_date, "end_date")
    if last < first:
        raise InvalidField("end_date must not be before start_date", reason="RANGE_REVERSED", field="end_date")
    if last > today:
        raise InvalidField("end_date must not be after today (UTC)", reason="DATE_IN_FUTURE", field="end_date")
    return DayRange(first, last)


def volume_range(start_date: str, end_date: str, bucket: Bucket, today: dt.date) -> DayRange:
    """A volume report's range: at most `MAX_BUCKETS` buckets."""
    days = day_range(start_date, end_date, today)
    if len(bucket.starts(days.first, days.last)) > MAX_BUCKETS:
        raise InvalidField(
            f"the range spans more than {MAX_BUCKETS} {bucket.value}s; choose a longer bucket or a shorter range",
            reason="RANGE_TOO_LONG",
            field="end_date",
        )
    return days


def performance_range(start_date: str, end_date: str, today: dt.date) -> DayRange:
    """A performance report's range: at most `MAX_PERFORMANCE_DAYS` days."""
    days = day_range(start_date, end_date, today)
    if (days.last - days.first).days + 1 > MAX_PERFORMANCE_DAYS:
        raise InvalidField(
            f"the range spans more than {MAX_PERFORMANCE_DAYS} days", reason="RANGE_TOO_LONG", field="end_date"
        )
    return days


def rate_bps(part: int, whole: int) -> int:
    """Part / whole in basis points, rounded down; 0 when whole is 0."""
    return part * 10_000 // whole if whole else 0
