"""Payout schedules: when a merchant's whole available balance (less the payout fee) is paid out on its own.

Pure rules, no I/O. A schedule is MANUAL (the default: no scheduled payouts), DAILY (every day from `hour_utc`),
WEEKLY (on `weekday`, ISO 1 = Monday, from `hour_utc`) or THRESHOLD (whenever the available balance reaches
`threshold` and no scheduled payout of the merchant is still on its way). Each due DAILY or WEEKLY run has a
*period key* (the UTC date); the scheduled payout's request id is built from it, so a period is paid at most once,
whatever runs it and how often. A day the scheduler does not run at all is not made up: the next period's payout
takes the whole balance anyway.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

Frequency = Literal["MANUAL", "DAILY", "WEEKLY", "THRESHOLD"]
FREQUENCIES: tuple[Frequency, ...] = ("MANUAL", "DAILY", "WEEKLY", "THRESHOLD")

REQUEST_PREFIX = "schedule:"
"""Scheduled payouts' request ids start with this; a merchant's own request ids may not."""


@dataclass(frozen=True)
class ScheduleRecord:
    """A merchant's stored payout schedule."""

    merchant_id: str
    frequency: Frequency
    weekday: int
    hour_utc: int
    threshold: int
    settlement_address_id: str | None
    minimum_amount: int
    update_time: dt.datetime | None
    last_run_time: dt.datetime | None = None
    last_outcome: str = ""
    last_payout_id: str | None = None
    auto_refund_overpayments: bool = False
    """Refund an overpaid invoice's excess to its refund address automatically (docs/payouts.md)."""


def manual(merchant_id: str) -> ScheduleRecord:
    """The schedule of a merchant that never set one."""
    return ScheduleRecord(merchant_id, "MANUAL", 0, 0, 0, None, 0, None)


def period_key(schedule: ScheduleRecord, now: dt.datetime) -> str | None:
    """The DAILY or WEEKLY period due at `now` (its UTC date), or None when none is due (or not by the calendar)."""
    now = now.astimezone(dt.UTC)
    if schedule.frequency == "DAILY" and now.hour >= schedule.hour_utc:
        return now.date().isoformat()
    if schedule.frequency == "WEEKLY" and now.isoweekday() == schedule.weekday and now.hour >= schedule.hour_utc:
        return now.date().isoformat()
    return None


def request_id(merchant_id: str, key: str) -> str:
    """The request id of a scheduled payout: unique per merchant and period."""
    return f"{REQUEST_PREFIX}{merchant_id}:{key}"


def payout_amount(available: int, fee: int) -> int:
    """What a scheduled payout pays: the whole available balance less the payout fee (0 when it does not cover it)."""
    return max(0, available - fee)
