"""Statement months: parsing "YYYY-MM" and the month's UTC bounds."""

from __future__ import annotations

import datetime as dt
import re

from ledger.errors import InvalidField

_MONTH = re.compile(r"([0-9]{4})-(0[1-9]|1[0-2])")
FIRST_YEAR = 2000


def month_bounds(month: str, now: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """[start, end) of a UTC month given as "YYYY-MM", refusing a malformed one or one after `now`'s month."""
    if not month:
        raise InvalidField('month is required, as "YYYY-MM"', reason="FIELD_REQUIRED", field="month")
    match = _MONTH.fullmatch(month)
    if match is None or int(match.group(1)) < FIRST_YEAR:
        raise InvalidField(
            f'month must be "YYYY-MM" (year {FIRST_YEAR} or later), e.g. "2026-11"',
            reason="MONTH_INVALID",
            field="month",
        )
    year, number = int(match.group(1)), int(match.group(2))
    start = dt.datetime(year, number, 1, tzinfo=dt.UTC)
    current = now.astimezone(dt.UTC)
    if (year, number) > (current.year, current.month):
        raise InvalidField("month must not be after the current month", reason="MONTH_IN_FUTURE", field="month")
    end = dt.datetime(year + number // 12, number % 12 + 1, 1, tzinfo=dt.UTC)
    return start, end
