"""Payout schedule rows."""

from __future__ import annotations

import datetime as dt

import asyncpg

from ledger.domain.payout_schedules import ScheduleRecord

_COLUMNS = (
    "merchant_id, frequency, weekday, hour_utc, threshold, settlement_address_id, minimum_amount, update_time, "
    "last_run_time, last_outcome, last_payout_id, auto_refund_overpayments"
)


def _record(r: asyncpg.Record) -> ScheduleRecord:
    return ScheduleRecord(
        merchant_id=r["merchant_id"],
        frequency=r["frequency"],
        weekday=int(r["weekday"]),
        hour_utc=int(r["hour_utc"]),
        threshold=int(r["threshold"]),
        settlement_address_id=r["settlement_address_id"],
        minimum_amount=int(r["minimum_amount"]),
        update_time=r["update_time"],
        last_run_time=r["last_run_time"],
        last_outcome=r["last_outcome"],
        last_payout_id=r["last_payout_id"],
        auto_refund_overpayments=r["auto_refund_overpayments"],
    )


async def get(conn: asyncpg.Connection, merchant_id: str, *, lock: bool = False) -> ScheduleRecord | None:
    """A merchant's schedule, if it ever set one (locked for this transaction when `lock`)."""
    r = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM ledger.payout_schedules WHERE merchant_id = $1" + (" FOR UPDATE" if lock else ""),
        merchant_id,
    )
    return _record(r) if r is not None else None


async def upsert(conn: asyncpg.Connection, schedule: ScheduleRecord, now: dt.datetime) -> ScheduleRecord:
    """Store a merchant's schedule, replacing the one it had (its last run is kept)."""
    r = await conn.fetchrow(
        "INSERT INTO ledger.payout_schedules (merchant_id, frequency, weekday, hour_utc, threshold, "
        "settlement_address_id, minimum_amount, create_time, update_time, auto_refund_overpayments) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $9) "
        "ON CONFLICT (merchant_id) DO UPDATE SET frequency = $2, weekday = $3, hour_utc = $4, threshold = $5, "
        "settlement_address_id = $6, minimum_amount = $7, update_time = $8, auto_refund_overpayments = $9 "
        f"RETURNING {_COLUMNS}",
        schedule.merchant_id,
        schedule.frequency,
        schedule.weekday,
        schedule.hour_utc,
        schedule.threshold,
        schedule.settlement_address_id,
        schedule.minimum_amount,
        now,
        schedule.auto_refund_overpayments,
    )
    return _record(r)


async def auto_refunds(conn: asyncpg.Connection, merchant_id: str) -> bool:
    """True when the merchant opted in to automatic overpayment refunds."""
    return bool(
        await conn.fetchval(
            "SELECT auto_refund_overpayments FROM ledger.payout_schedules WHERE merchant_id = $1", merchant_id
        )
    )


async def scheduled_merchants(conn: asyncpg.Connection) -> list[str]:
    """Merchants whose schedule is not MANUAL, in id order."""
    rows = await conn.fetch(
        "SELECT merchant_id FROM ledger.payout_schedules WHERE frequency <> 'MANUAL' ORDER BY merchant_id"
    )
    return [r["merchant_id"] for r in rows]


async def record_run(
    conn: asyncpg.Connection, merchant_id: str, now: dt.datetime, outcome: str, payout_id: str | None
) -> None:
    """Note what the scheduler's run did for a merchant (no event: the payout, if any, has its own)."""
    await conn.execute(
        "UPDATE ledger.payout_schedules SET last_run_time = $2, last_outcome = $3, "
        "last_payout_id = coalesce($4, last_payout_id) WHERE merchant_id = $1",
        merchant_id,
        now,
        outcome,
        payout_id,
    )


async def open_scheduled(conn: asyncpg.Connection, merchant_id: str) -> int:
    """How many of the merchant's scheduled payouts are still on their way (waiting, queued or broadcast)."""
    return int(
        await conn.fetchval(
            "SELECT count(*) FROM ledger.payouts WHERE merchant_id = $1 AND payout_trigger = 'SCHEDULED' "
            "AND status IN ('PENDING_APPROVAL', 'QUEUED', 'BROADCAST')",
            merchant_id,
        )
    )


async def count_scheduled(conn: asyncpg.Connection, merchant_id: str) -> int:
    """How many scheduled payouts the merchant ever had (THRESHOLD's period keys count them)."""
    return int(
        await conn.fetchval(
            "SELECT count(*) FROM ledger.payouts WHERE merchant_id = $1 AND payout_trigger = 'SCHEDULED'",
            merchant_id,
        )
    )
